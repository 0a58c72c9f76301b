"""Leases: one holder at a time for a job that several server processes could start (the demo seed).

A lease is a row of library_meta (`lease:<name>`) holding its owner, the owner's last heartbeat and a
small note the owner publishes (its progress, for the processes that wait). Every change is a
compare-and-swap on the row's whole value inside the caller's transaction, so two claimants on one
PostgreSQL server or one SQLite file cannot both win: on PostgreSQL the second UPDATE waits for the
first to commit and then matches no row, and the second INSERT of a new lease fails on the primary
key; SQLite serialises writers (BEGIN IMMEDIATE, db.engine). A lease whose heartbeat is older than
`stale_after` belongs to a holder that died: anyone may take it over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import LibraryMeta, utcnow

STALE_AFTER = timedelta(minutes=3)
PREFIX = "lease:"


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    heartbeat: datetime
    note: dict[str, Any] = field(default_factory=dict)

    def stale(self, now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> bool:
        return (now or utcnow()) - self.heartbeat >= stale_after


def _key(name: str) -> str:
    key = PREFIX + name
    if len(key) > 64:  # library_meta.key is String(64)
        raise ValueError(f"lease name too long: {name!r}")
    return key


def _encode(owner: str, now: datetime, note: dict[str, Any]) -> str:
    return json.dumps({"owner": owner, "heartbeat": now.astimezone(UTC).isoformat(), "note": note}, sort_keys=True)


def _decode(name: str, value: str) -> Lease:
    try:
        data = json.loads(value)
        return Lease(name, str(data["owner"]), datetime.fromisoformat(data["heartbeat"]), dict(data.get("note") or {}))
    except (ValueError, KeyError, TypeError):
        # Unreadable: treat it as a long-dead holder's, so that it can be taken over.
        return Lease(name, "", datetime.min.replace(tzinfo=UTC))


def _current(session: Session, name: str) -> str | None:
    return session.execute(select(LibraryMeta.value).where(LibraryMeta.key == _key(name))).scalar_one_or_none()


def _swap(session: Session, name: str, old: str, new: str) -> bool:
    result = session.execute(
        update(LibraryMeta).where(LibraryMeta.key == _key(name), LibraryMeta.value == old).values(value=new)
    )
    return getattr(result, "rowcount", 0) == 1


def read_lease(session: Session, name: str) -> Lease | None:
    value = _current(session, name)
    return None if value is None else _decode(name, value)


def claim_lease(
    session: Session,
    name: str,
    owner: str,
    note: dict[str, Any] | None = None,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> bool:
    """Take the lease if it is free, already `owner`'s, or stale; True when `owner` holds it afterwards."""
    now = now or utcnow()
    value = _encode(owner, now, note or {})
    current = _current(session, name)
    if current is None:
        try:
            with session.begin_nested():  # losing the race to insert undoes only this insert
                session.execute(insert(LibraryMeta).values(key=_key(name), value=value))
        except IntegrityError:
            return False
        return True
    lease = _decode(name, current)
    if lease.owner != owner and not lease.stale(now, stale_after):
        return False
    return _swap(session, name, current, value)


def renew_lease(
    session: Session, name: str, owner: str, note: dict[str, Any] | None = None, now: datetime | None = None
) -> bool:
    """The holder's heartbeat (with its note); False when the lease is no longer `owner`'s (taken over)."""
    current = _current(session, name)
    if current is None or _decode(name, current).owner != owner:
        return False
    return _swap(session, name, current, _encode(owner, now or utcnow(), note or {}))


def release_lease(session: Session, name: str, owner: str) -> bool:
    """Give the lease up; only its holder can. True when it was `owner`'s."""
    current = _current(session, name)
    if current is None or _decode(name, current).owner != owner:
        return False
    result = session.execute(delete(LibraryMeta).where(LibraryMeta.key == _key(name), LibraryMeta.value == current))
    return getattr(result, "rowcount", 0) == 1
