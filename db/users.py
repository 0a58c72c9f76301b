"""Users, roles and logins. Passwords are kept only as argon2 hashes; failed logins slow further tries.

Roles: instructor (curates, sees the class), student (takes quizzes), reviewer (checks the limits
gallery). An instructor holds every role, so one person can run a small course alone.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.vocabulary import N_, ROLES
from db.errors import LibraryError, NotFound
from db.models import User, UserRole, utcnow
from db.permissions import Actor, require
from db.permissions import effective_roles as effective_roles  # where pages and services look for it
from db.sessions import revoke_all

MIN_PASSWORD_LENGTH = 8
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# Throttling: the first FREE_FAILURES wrong passwords cost nothing; each later one doubles the wait.
FREE_FAILURES = 3
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=15)

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


def lock_delay(failures: int) -> timedelta:
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** (failures - FREE_FAILURES), MAX_DELAY)


def authenticate(session: Session, name: str, password: str, now: datetime | None = None) -> LoginResult:
    """Check a login. Wrong name and wrong password get the same message; repeated failures lock the account for a while."""
    now = now or utcnow()
    wrong = LoginResult(None, "Wrong user name or password.")
    user = find_user(session, name)
    if user is None:
        try:
            _hasher.verify(_DUMMY_HASH, password or "")
        except VerificationError:
            pass
        return wrong
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        wait = math.ceil((locked_until - now).total_seconds())
        # Tries during the lock are not even checked, so guessing gains nothing by hurrying.
        return LoginResult(None, f"Too many failed logins: wait {wait} s before trying again.", wait)
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        delay = lock_delay(user.failed_logins)
        user.locked_until = now + delay if delay else None
        if delay:
            return LoginResult(
                None,
                f"Wrong user name or password. Too many failed logins: wait "
                f"{int(delay.total_seconds())} s before trying again.",
                int(delay.total_seconds()),
            )
        return wrong
    if not user.active:
        return LoginResult(None, "This account is deactivated; ask an instructor.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return LoginResult(user.id)
