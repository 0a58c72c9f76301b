"""Errors with a message meant for the user: the CLI prints str(exc) (English); pages show it in the
session's language from its catalogue message and parameters (core.vocabulary.Worded)."""

from __future__ import annotations

from core.vocabulary import Worded


class LibraryError(Worded, ValueError):
    """Bad input or a refused operation; nothing was changed. Raised as `LibraryError(N_("… {name!r} …"), name=…)`."""


class NotFound(LibraryError):
    pass


class Forbidden(LibraryError):
    """The user's roles do not allow this. The message is a catalogue msgid without placeholders,
    so pages show it translated."""


class CaseChanged(LibraryError):
    """Someone else saved this case since it was loaded: the edit was not applied."""


class LibraryUnavailable(RuntimeError):
    """The database cannot be reached; the caller should keep the user's input and say so."""


def is_connection_problem(exc: BaseException) -> bool:
    """True for 'server gone / cannot connect / file unusable', as opposed to a bug in a query."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, LibraryUnavailable | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_disk_full(exc: BaseException) -> bool:
    """True when the library's storage has no room left: SQLite's SQLITE_FULL ("database or disk is full")
    or PostgreSQL's disk_full (SQLSTATE 53100). The write was rolled back; what was stored is intact."""
    for err in (exc, getattr(exc, "orig", None), exc.__cause__):
        if err is None:
            continue
        if getattr(err, "sqlite_errorcode", None) == 13 or getattr(err, "sqlstate", None) == "53100":
            return True
        if "database or disk is full" in str(err) or "No space left on device" in str(err):
            return True
    return False
