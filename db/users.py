"""Users, roles and logins. Passwords are kept only as argon2 hashes; failed logins slow further tries:
of one account (however many clients try it), and from one client (however many user names it tries).

Roles: instructor (curates, sees the class), student (takes quizzes), reviewer (checks the limits
gallery). An instructor holds every role, so one person can run a small course alone.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.vocabulary import N_, ROLES
from db.errors import LibraryError, NotFound
from db.models import LoginThrottle, User, UserRole, utcnow
from db.permissions import Actor, require
from db.permissions import effective_roles as effective_roles  # where pages and services look for it
from db.sessions import revoke_all

MIN_PASSWORD_LENGTH = 8
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# Throttling: the first FREE_FAILURES wrong passwords cost nothing; each later one doubles the wait.
FREE_FAILURES = 3
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=15)
# The same brake per client, across every user name it tries: a spray of one guess per account would
# never trip an account's own. More free failures, for a classroom behind one address; forgotten after
# a quiet hour. A correct login does not clear it (a guesser's own valid account would clear their spray).
CLIENT_FREE_FAILURES = 10
CLIENT_FORGET_AFTER = timedelta(hours=1)
UNKNOWN_CLIENT = "unknown client"  # the key of every client whose address the server does not know

_hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


@dataclass(frozen=True)
class LoginResult:
    user_id: int | None
    message: str = ""
    retry_after_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def clean_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not NAME_PATTERN.match(name):
        raise LibraryError(
            N_(
                "A user name is 1–100 characters: letters, digits, dot, dash or underscore, "
                "starting with a letter or digit."
            )
        )
    return name


class NoRole(LibraryError):
    """No role was chosen: a form says so next to its roles field."""


class WrongPassword(LibraryError):
    """The current password given with a change was wrong, or the login brake is on (wait that long)."""

    def __init__(self, retry_after_seconds: int = 0) -> None:
        if retry_after_seconds:
            super().__init__(
                N_("The current password is wrong, or too many failed tries: wait {seconds} s."),
                seconds=retry_after_seconds,
            )
        else:
            super().__init__(N_("The current password is wrong."))
        self.retry_after_seconds = retry_after_seconds


def check_roles(roles) -> list[str]:
    wanted = sorted(set(roles or ()))
    if not wanted:
        raise NoRole(N_("Choose at least one role: {choices}."), choices=", ".join(ROLES))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise LibraryError(
            N_("Unknown role {role!r}: choose from {choices}."), role=unknown[0], choices=", ".join(ROLES)
        )
    return wanted


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise LibraryError(N_("The password must have at least {least} characters."), least=MIN_PASSWORD_LENGTH)
    return password


def has_users(session: Session) -> bool:
    return session.execute(select(func.count()).select_from(User)).scalar_one() > 0


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == (name or "").strip().lower())).first()


def create_user(session: Session, actor: Actor, name: str, password: str, roles) -> User:
    """An instructor adds a user (or the operator: `python -m db users create`)."""
    require(session, actor, "create_user")
    return _create_user(session, name, password, roles)


def _create_user(session: Session, name: str, password: str, roles) -> User:
    name, roles, password = clean_name(name), check_roles(roles), check_password(password)
    if find_user(session, name) is not None:
        raise LibraryError(N_("A user called {name!r} already exists."), name=name)
    user = User(
        name=name,
        password_hash=_hasher.hash(password),
        active=True,
        failed_logins=0,
        roles=[UserRole(role=r) for r in roles],
    )
    session.add(user)
    session.flush()
    return user


def create_first_instructor(session: Session, name: str, password: str) -> User:
    """First-run setup: allowed only while the library has no users at all."""
    if has_users(session):
        raise LibraryError(N_("The first instructor already exists: log in instead."))
    return _create_user(session, name, password, ["instructor"])


def _named(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise NotFound(N_("No user called {name!r}."), name=name)
    return user


def _keep_an_instructor(session: Session, user: User) -> None:
    """Refuse a change that would leave no active instructor (nobody could manage the users)."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .join(UserRole)
        .where(UserRole.role == "instructor", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise LibraryError(N_("{name!r} is the last active instructor; nobody could manage the users."), name=user.name)


def set_active(session: Session, actor: Actor, name: str, active: bool) -> User:
    """Deactivating ends the user's sessions at once; reactivating clears the login brake."""
    require(session, actor, "set_active")
    user = _named(session, name)
    if not active and "instructor" in {r.role for r in user.roles}:
        _keep_an_instructor(session, user)
    user.active = bool(active)
    if active:
        user.failed_logins, user.locked_until = 0, None
    else:
        revoke_all(session, user.id)
    return user


def set_roles(session: Session, actor: Actor, name: str, roles) -> User:
    """Replace a user's roles. Their sessions end: the next login starts with the new privileges (and a new token)."""
    require(session, actor, "set_roles")
    user = _named(session, name)
    wanted = check_roles(roles)
    held = {r.role for r in user.roles}
    if "instructor" in held and "instructor" not in wanted and user.active:
        _keep_an_instructor(session, user)
    if set(wanted) != held:
        user.roles = [UserRole(role=r) for r in wanted]
        session.flush()
        revoke_all(session, user.id)
    return user


ONE_TIME_PASSWORD_BYTES = 9  # 12 URL-safe characters, about 72 bits


def reset_password(session: Session, actor: Actor, name: str) -> str:
    """An instructor's reset: a one-time password (returned once, stored only as a hash), to be changed at next login.

    Every session of the user ends, and the login brake is cleared so the new password works at once.
    """
    require(session, actor, "reset_password")
    user = _named(session, name)
    one_time = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
    user.password_hash = _hasher.hash(one_time)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    revoke_all(session, user.id)
    return one_time


def change_password(session: Session, user_id: int, old: str, new: str) -> User:
    """The user's own change: the current password is required; every session of theirs ends (the caller opens a new one)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(N_("No active user with id {user_id}."), user_id=user_id)
    check_password(new)
    result = authenticate(session, user.name, old)  # the same brake as logins: guessing gains nothing here either
    if not result.ok:
        raise WrongPassword(result.retry_after_seconds)
    if old == new:
        raise LibraryError(N_("The new password is the same as the current one."))
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    revoke_all(session, user.id)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def active_user(session: Session, user_id: int | None) -> User | None:
    """The logged-in user as the database says now (a deactivated user is logged out at once)."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")  # "en", "ko", "pt_BR": a catalogue's name


def set_language(session: Session, user_id: int, language: str | None) -> User:
    """Remember the user's interface language (None: follow the browser again)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No user with id {user_id}."), user_id=user_id)
    if language is not None and not LANGUAGE_TAG.match(language):
        raise LibraryError(N_("{language!r} is not a language tag such as 'en' or 'ko'."), language=language)
    user.language = language
    return user


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def lock_delay(failures: int, free: int = FREE_FAILURES) -> timedelta:
    if failures < free:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** (failures - free), MAX_DELAY)


def client_key(client: str) -> str:
    """What the throttle table keeps of a client's address: a hash, never the address itself."""
    return hashlib.sha256(f"login client:{client.strip() or UNKNOWN_CLIENT}".encode()).hexdigest()


def _locked(until: datetime | None, now: datetime) -> LoginResult | None:
    until = _aware(until)
    if until is None or until <= now:
        return None
    wait = math.ceil((until - now).total_seconds())
    return LoginResult(None, f"Too many failed logins: wait {wait} s before trying again.", wait)


def _client_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The client's throttle row, locked for this transaction (made on its first failure)."""
    # populate_existing: the row as it is now, under the lock (not as an earlier read in this session saw it).
    query = (
        select(LoginThrottle)
        .where(LoginThrottle.client_key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():  # another server may insert the same client's first failure at once
            row = LoginThrottle(client_key=key, failures=0, last_failure_at=now)
            session.add(row)
            session.flush()
        return row
    except IntegrityError:
        return session.scalars(query).one()


def _client_failed(session: Session, key: str, now: datetime) -> timedelta:
    """Count a failure from this client; returns how long it must now wait (zero while failures are free)."""
    stale = now - CLIENT_FORGET_AFTER  # other clients' quiet rows go: the table stays small
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.last_failure_at < stale, LoginThrottle.client_key != key),
        execution_options={"synchronize_session": False},  # other clients' rows; none of them is in use here
    )
    row = _client_row(session, key, now)
    last = _aware(row.last_failure_at)
    if last is not None and now - last > CLIENT_FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    delay = lock_delay(row.failures, CLIENT_FREE_FAILURES)
    row.locked_until = now + delay if delay else None
    return delay


def _wrong(delay: timedelta) -> LoginResult:
    if not delay:
        return LoginResult(None, "Wrong user name or password.")
    seconds = int(delay.total_seconds())
    return LoginResult(
        None, f"Wrong user name or password. Too many failed logins: wait {seconds} s before trying again.", seconds
    )


def authenticate(
    session: Session, name: str, password: str, now: datetime | None = None, client: str | None = None
) -> LoginResult:
    """Check a login. Wrong name and wrong password get the same message; repeated failures lock the account
    for a while, and repeated failures from one `client` (its address; the page passes UNKNOWN_CLIENT when the
    server does not know it) lock that client, whatever names it tries. `client=None`: no client brake (a
    signed-in user's password change, where the account's brake applies)."""
    now = now or utcnow()
    key = client_key(client) if client is not None else None
    if key is not None:
        row = session.get(LoginThrottle, key)
        held = _locked(row.locked_until, now) if row is not None else None
        if held is not None:
            return held  # tries during the wait are not even checked: a spray gains nothing by hurrying
    user = find_user(session, name)
    if user is None:
        try:
            _hasher.verify(_DUMMY_HASH, password or "")
        except VerificationError:
            pass
        return _wrong(_client_failed(session, key, now) if key is not None else timedelta(0))
    held = _locked(user.locked_until, now)
    if held is not None:
        # Tries during the lock are not even checked, so guessing gains nothing by hurrying.
        return held
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        delay = lock_delay(user.failed_logins)
        user.locked_until = now + delay if delay else None
        if key is not None:
            delay = max(delay, _client_failed(session, key, now))
        return _wrong(delay)
    if not user.active:
        return LoginResult(None, "This account is deactivated; ask an instructor.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return LoginResult(user.id)
