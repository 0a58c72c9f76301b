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
