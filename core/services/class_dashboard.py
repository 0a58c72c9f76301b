"""The instructor dashboard's figures: every stored quiz answer, summarised by the teaching rules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.teaching.class_stats import (
    AttemptResult,
    CaseResult,
    SourceResult,
    per_attempt,
    per_case,
    per_source,
    per_student,
    shortcut_summary,
    to_csv,
)
from db.class_results import AnswerRow, answer_rows


@dataclass(frozen=True)
class ClassResults:
    rows: list[AnswerRow]
    students: list[str]
    attempt_count: int
    by_case: list[CaseResult]  # hardest first
    by_source: list[SourceResult]
    attempts: list[AttemptResult]
    shortcut: list[dict]
    trust: list[dict]  # "Which map can you trust?" per case

    def per_student(self, chosen: list[str]) -> list[dict]:
        return per_student(self.rows, chosen, self.attempts)

    def csv(self) -> str:
        return to_csv(self.rows)


def class_results(session: Session) -> ClassResults:
    rows = answer_rows(session)
    return ClassResults(
        rows=rows,
        students=sorted({r.user for r in rows}),
        attempt_count=len({r.attempt_id for r in rows}),
        by_case=per_case(rows),
        by_source=per_source(rows),
        attempts=per_attempt(rows),
        shortcut=shortcut_summary(rows, "shortcut"),
        trust=shortcut_summary(rows, "trust"),
    )
