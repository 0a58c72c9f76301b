"""Who may change a teaching set. Students take quizzes on a published set, so only an instructor
changes one; any reviewer may collect cases in a draft set (Model Limits)."""

from __future__ import annotations

from collections.abc import Collection


def may_change_set(roles: Collection[str], published: bool) -> bool:
    return "instructor" in roles or not published
