"""Who may change a teaching set. Students take quizzes on a published set, so only an instructor
changes one; any reviewer may collect cases in a draft set (Model Limits). The rule itself is the
permission table's (core.vocabulary.WRITES), which db.teaching checks at the write."""

from __future__ import annotations

from collections.abc import Collection

from core.vocabulary import may


def may_change_set(roles: Collection[str], published: bool) -> bool:
    return may(roles, "add_to_published_set" if published else "add_to_set")
