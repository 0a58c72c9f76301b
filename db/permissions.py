"""The check every library write makes before it changes anything: may this actor make this change?

`require(session, actor, write)` reads the permission table (core.vocabulary.WRITES) and the acting
user as the library holds them now: the user must exist, be active and hold one of the write's roles
(an instructor holds every role). Otherwise it raises Forbidden, whose worded message the pages show.
The actor is a user id, or the machine operator (db.operator.OPERATOR: the command line, the server's
own jobs), which is let through without a user.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.vocabulary import N_, ROLES, WRITES
from db import operator as _operator
from db.errors import Forbidden
from db.models import User

Actor = int | _operator.Operator

NOT_SIGNED_IN = N_("Only a signed-in user with an active account may change the library; nothing was changed.")
PUBLISHED_NEEDS_INSTRUCTOR = N_("Only an instructor may change a published teaching set: students take quizzes on it.")
# What a refused user is told, by the roles the write needs.
REFUSALS: dict[tuple[str, ...], str] = {
    ("instructor",): N_("Only an instructor may make this change; nothing was changed."),
    ("reviewer",): N_("This needs the reviewer role, which your account does not have; nothing was changed."),
    ("student",): N_("This needs the student role, which your account does not have; nothing was changed."),
    ("instructor", "reviewer"): N_(
        "This needs the reviewer or instructor role, which your account does not have; nothing was changed."
    ),
    ROLES: NOT_SIGNED_IN,
}
REFUSAL_OF_WRITE = {"add_to_published_set": PUBLISHED_NEEDS_INSTRUCTOR}


def effective_roles(user: User) -> frozenset[str]:
    """The roles a user acts with: an instructor holds every role."""
    held = {r.role for r in user.roles}
    return frozenset(ROLES) if "instructor" in held else frozenset(held)


def refusal(write: str) -> str:
    return REFUSAL_OF_WRITE.get(write) or REFUSALS[WRITES[write]]


def require(session: Session, actor: Actor | None, write: str) -> User | None:
    """The acting user, if they may make the change `write`; Forbidden (nothing changed) otherwise.

    Returns None for the machine operator. Call it before the first change, in the write's own session.
    """
    allowed = WRITES[write]  # an unknown write name is a bug, not a refusal
    if actor is _operator.OPERATOR:
        return None
    if not isinstance(actor, int) or isinstance(actor, bool):
        raise Forbidden(NOT_SIGNED_IN)
    user = session.get(User, actor)
    if user is None or not user.active:
        raise Forbidden(NOT_SIGNED_IN)
    if not effective_roles(user) & set(allowed):
        raise Forbidden(refusal(write))
    return user
