"""Teaching-set changes made by a logged-in user: the role rule (core.teaching.set_rules) checked
against the roles the library holds now, whatever the page offered."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.i18n import N_
from core.teaching.set_rules import may_change_set
from db import teaching
from db.errors import Forbidden
from db.users import active_user, effective_roles

PUBLISHED_NEEDS_INSTRUCTOR = N_("Only an instructor may change a published teaching set: students take quizzes on it.")


def add_cases(session: Session, user_id: int, set_id: int, case_ids: list[int]) -> int:
    """Append cases to a set as this user; returns how many were added (teaching.add_to_set)."""
    user = active_user(session, user_id)
    roles = effective_roles(user) if user is not None else frozenset()
    if not may_change_set(roles, teaching.get_set(session, set_id).published):
        raise Forbidden(PUBLISHED_NEEDS_INSTRUCTOR)
    return teaching.add_to_set(session, set_id, case_ids)
