"""Starting a quiz on an AppTest already on the Quiz page, the way a student does it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from db.engine import session_scope
from db.models import QuizAttempt


@dataclass(frozen=True)
class Started:
    id: int
    case_ids: list[int]
    mode: str
    attempts: int  # how many attempts the library holds now


def start_quiz(
    at: AppTest, engine: Engine, set_id: int | None = None, mode: str | None = None, length: int | None = None
):
    """Pick the source, mode and length (each only when given), press Start → the newest attempt."""
    if set_id is not None:
        at.selectbox(key="quiz_source").select(set_id)
    if mode is not None:
        at.radio(key="quiz_mode").set_value(mode)
    if length is not None:
        at.number_input(key="quiz_length").set_value(length)
    at.button(key="quiz_start_btn").click().run()
    assert not at.exception, at.exception
    with session_scope(engine) as s:
        attempts = s.scalars(select(QuizAttempt).order_by(QuizAttempt.id.desc())).all()
        assert attempts, "no quiz attempt was stored"
        newest = attempts[0]
        return Started(newest.id, list(newest.case_ids), newest.mode, len(attempts))
