"""Logins that outlive a page: issue, resume, rotate and end server-side sessions.

The browser's cookie carries a signed, expiring random token (core.session_tokens); the library keeps the
token's hash (db.sessions) and the signing key (library_meta, made on first use), so sessions survive a
server restart and are shared by every process on one library.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core import session_tokens
from core.settings import session_hours, session_idle_minutes
from db import sessions as stored
from db import users
from db.models import UserSession, utcnow
from db.repository import meta_once

SIGNING_KEY = "session_signing_key"


@dataclass(frozen=True)
class Issued:
    """A new session: its id for this page's session_state, the cookie value for the browser (only)."""

    session_id: int
    user_id: int
    cookie_value: str
    expires_at: datetime

    @property
    def max_age(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def __repr__(self) -> str:  # never print the token, even in a traceback or a debug dump
        return f"Issued(session_id={self.session_id}, user_id={self.user_id}, expires_at={self.expires_at!r})"


def signing_key(session: Session) -> bytes:
    return bytes.fromhex(meta_once(session, SIGNING_KEY, secrets.token_hex(32)))


def issue(session: Session, user_id: int, now: datetime | None = None, hours: float | None = None) -> Issued:
    """A fresh token for a login (or a rotation): never an earlier one."""
    now = now or utcnow()
    expires_at = (now + timedelta(hours=hours if hours is not None else session_hours())).replace(microsecond=0)
    token = session_tokens.new_token()
    row = stored.open_session(session, user_id, session_tokens.token_hash(token), expires_at)
    return Issued(row.id, user_id, session_tokens.sign(signing_key(session), token, expires_at), expires_at)


def idle_limit() -> timedelta:
    return timedelta(minutes=session_idle_minutes())


def find(session: Session, cookie_value: str | None, now: datetime | None = None) -> stored.Found:
    """The live session a browser's cookie stands for; none for a forged, edited, expired, revoked or idle one."""
    token = session_tokens.verified_token(signing_key(session), cookie_value, now)
    if token is None:
        return stored.Found(None)
    return stored.find_by_token_hash(session, session_tokens.token_hash(token), now, idle_limit())


def resume(session: Session, cookie_value: str | None, now: datetime | None = None) -> UserSession | None:
    return find(session, cookie_value, now).row


def current(session: Session, session_id: int | None, now: datetime | None = None) -> stored.Found:
    """The session a page run belongs to, if still live: checked on every run, idle limit included."""
    return stored.find_live(session, session_id, now, idle_limit())


def end(session: Session, session_id: int | None) -> None:
    if session_id is not None:
        stored.revoke(session, session_id)


def change_password(session: Session, user_id: int, old: str, new: str) -> Issued:
    """The user's own change: every session of theirs ends, this browser gets a new token (rotation)."""
    users.change_password(session, user_id, old, new)  # revokes all the user's sessions
    return issue(session, user_id)
