"""Every quiz answer of the class, flat, for the instructor dashboard and its CSV export.

Only the columns named here are read: user names but never anything about passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, QuizAnswer, QuizAttempt, User


@dataclass(frozen=True)
class AnswerRow:
    user: str
    attempt_id: int
    mode: str
    source: str  # the teaching set's name when the quiz started, or "random from the library"
    set_id: int | None
    started_at: datetime
    position: int
    case_id: int | None  # None once the case was deleted (the answer is kept)
    case_title: str | None
    answer: str
    confidence: float
    truth_label: str
    correct: bool
    model_label: str | None
    model_probability: float | None
    model_version: str | None
    mark_x: float | None
    mark_y: float | None
    answered_at: datetime
    expected: str | None = None  # "Spot the shortcut": the accepted answers


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def answer_rows(session: Session) -> list[AnswerRow]:
    """All answers, oldest first."""
    query = (
        select(
            User.name,
            QuizAttempt.id,
            QuizAttempt.mode,
            QuizAttempt.source,
            QuizAttempt.set_id,
            QuizAttempt.started_at,
            QuizAnswer.position,
            QuizAnswer.case_id,
            Case.title,
            QuizAnswer.answer,
            QuizAnswer.confidence,
            QuizAnswer.truth_label,
            QuizAnswer.correct,
            QuizAnswer.model_label,
            QuizAnswer.model_probability,
            QuizAttempt.model_version,
            QuizAnswer.mark_x,
            QuizAnswer.mark_y,
            QuizAnswer.answered_at,
            QuizAnswer.expected,
        )
        .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
        .join(User, User.id == QuizAttempt.user_id)
        .outerjoin(Case, Case.id == QuizAnswer.case_id)
        .order_by(QuizAnswer.answered_at, QuizAnswer.id)
    )
    rows = []
    for r in session.execute(query):
        values = list(r)
        values[5], values[-2] = _utc(values[5]), _utc(values[-2])
        rows.append(AnswerRow(*values))
    return rows
