"""Login sessions as the server keeps them: a token's SHA-256, its user, when it started, expires, was last seen.

Nothing here sees a raw token; core.session_tokens makes, signs and hashes them. A session is live while
it is neither expired nor revoked, its user is active and (given an idle limit) it was seen within the limit;
one found idle is revoked there and then, so no tab or cookie brings it back.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from db.models import User, UserSession, utcnow

# last_seen_at is written at most this often, so a click is not a write.
SEEN_EVERY = timedelta(minutes=1)
# Ended sessions are kept this long (who was logged in when), then deleted at the next login.
KEEP_ENDED = timedelta(days=30)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def open_session(session: Session, user_id: int, token_hash: str, expires_at: datetime) -> UserSession:
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.expires_at < now - KEEP_ENDED))
    row = UserSession(user_id=user_id, token_hash=token_hash, created_at=now, expires_at=expires_at, last_seen_at=now)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Found:
    """A lookup's answer: the live session, or None; `idle` when it ended on this lookup for want of use."""

    row: UserSession | None
    idle: bool = False


def _live(session: Session, row: UserSession | None, now: datetime, idle: timedelta | None) -> Found:
    if row is None or row.revoked_at is not None:
        return Found(None)
    expires_at = _aware(row.expires_at)
    if expires_at is None or expires_at <= now:
        return Found(None)
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return Found(None)
    last_seen = _aware(row.last_seen_at)
    if idle is not None and last_seen is not None and now - last_seen > idle:
        row.revoked_at = now
        return Found(None, idle=True)
    # Written at most every SEEN_EVERY, and often enough that a session in use never looks idle.
    every = SEEN_EVERY if idle is None else min(SEEN_EVERY, idle / 4)
    if last_seen is None or now - last_seen >= every:
        row.last_seen_at = now
    return Found(row)


def find_by_token_hash(
    session: Session, token_hash: str, now: datetime | None = None, idle: timedelta | None = None
) -> Found:
    """The live session a browser's token belongs to (not: unknown, expired, revoked, user deactivated, idle)."""
    row = session.scalars(select(UserSession).where(UserSession.token_hash == token_hash)).first()
    if row is not None and not hmac.compare_digest(row.token_hash, token_hash):
        return Found(None)  # the index found it; the comparison itself does not leak how much matched
    return _live(session, row, now or utcnow(), idle)


def find_live(
    session: Session, session_id: int | None, now: datetime | None = None, idle: timedelta | None = None
) -> Found:
    """The session a page run belongs to, checked again on every run so that revocation reaches open tabs."""
    if session_id is None:
        return Found(None)
    return _live(session, session.get(UserSession, session_id), now or utcnow(), idle)


def session_by_token_hash(
    session: Session, token_hash: str, now: datetime | None = None, idle: timedelta | None = None
) -> UserSession | None:
    return find_by_token_hash(session, token_hash, now, idle).row


def live_session(
    session: Session, session_id: int | None, now: datetime | None = None, idle: timedelta | None = None
) -> UserSession | None:
    return find_live(session, session_id, now, idle).row


def revoke(session: Session, session_id: int) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(session: Session, user_id: int, keep: int | None = None) -> int:
    """End every live session of a user (but `keep`, the one making the change); returns how many."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = session.execute(query.values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def live_count(session: Session, user_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    rows = session.scalars(select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None)))
    return sum(1 for r in rows if (_aware(r.expires_at) or now) > now)
