"""The class's quiz results, summed up for the instructor: per case, per student attempt, per teaching set.

Input rows are db.class_results.AnswerRow (any objects with the same attributes); nothing here
touches the database, so the figures are checked on plain rows.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.i18n import N_
from core.safe_text import csv_cell
from core.teaching.quiz_rules import MODES, confidence_brier, streaks


def reading_rows(rows: Sequence) -> list:
    """Answers that read an image NORMAL/PNEUMONIA (not "Spot the shortcut"): what per-case and
    per-set comparisons with the model are about."""
    return [r for r in rows if MODES.get(r.mode) is None or MODES[r.mode].reading]


@dataclass(frozen=True)
class CaseResult:
    case_id: int
    title: str
    answers: int
    students_right: int
    truth_label: str
    model_label: str | None  # what the model said, as stored with the case's latest answer that had one
    model_probability: float | None

    @property
    def student_accuracy(self) -> float:
        return self.students_right / self.answers

    @property
    def model_right(self) -> bool | None:
        return None if self.model_label is None else self.model_label == self.truth_label


def per_case(rows: Sequence) -> list[CaseResult]:
    """One result per case still in the library, hardest first (lowest share right, then most answered)."""
    by_case: dict[int, list] = defaultdict(list)
    for r in reading_rows(rows):
        if r.case_id is not None:
            by_case[r.case_id].append(r)
    results = []
    for case_id, answers in by_case.items():
        last = answers[-1]
        with_model = [a for a in answers if a.model_label is not None]
        model = with_model[-1] if with_model else None
        results.append(
            CaseResult(
                case_id,
                last.case_title or f"case #{case_id}",
                len(answers),
                sum(a.correct for a in answers),
                last.truth_label,
                model.model_label if model else None,
                model.model_probability if model else None,
            )
        )
    return sorted(results, key=lambda c: (c.student_accuracy, -c.answers, c.case_id))


@dataclass(frozen=True)
class AttemptResult:
    user: str
    attempt_id: int
    started_at: datetime
    source: str
    mode: str
    answered: int
    accuracy: float
    brier: float


def per_attempt(rows: Sequence) -> list[AttemptResult]:
    """Each student's attempts with at least one answer, in the order they were started."""
    by_attempt: dict[int, list] = defaultdict(list)
    for r in rows:
        by_attempt[r.attempt_id].append(r)
    results = []
    for attempt_id, a in by_attempt.items():
        brier = confidence_brier(a)
        assert brier is not None  # only None for no answers, and every attempt here has one
        results.append(
            AttemptResult(
                a[0].user,
                attempt_id,
                a[0].started_at,
                a[0].source,
                a[0].mode,
                len(a),
                sum(x.correct for x in a) / len(a),
                brier,
            )
        )
    return sorted(results, key=lambda r: (r.user, r.started_at, r.attempt_id))


@dataclass(frozen=True)
class SourceResult:
    source: str
    students: int
    answers: int
    student_accuracy: float
    model_answers: int  # answers for which the model's output was stored
    model_accuracy: float | None
    agreement: float | None  # share of those where the student said what the model said


def per_source(rows: Sequence) -> list[SourceResult]:
    """Per teaching set (by its name when the quiz was taken; random quizzes form their own group)."""
    by_source: dict[str, list] = defaultdict(list)
    for r in reading_rows(rows):
        by_source[r.source].append(r)
    results = []
    for source, answers in sorted(by_source.items()):
        with_model = [a for a in answers if a.model_label is not None]
        results.append(
            SourceResult(
                source,
                len({a.user for a in answers}),
                len(answers),
                sum(a.correct for a in answers) / len(answers),
                len(with_model),
                sum(a.model_label == a.truth_label for a in with_model) / len(with_model) if with_model else None,
                sum(a.model_label == a.answer for a in with_model) / len(with_model) if with_model else None,
            )
        )
    return results


CSV_COLUMNS = (
    "user",
    "attempt_id",
    "mode",
    "source",
    "set_id",
    "started_at",
    "position",
    "case_id",
    "case_title",
    "answer",
    "confidence",
    "truth_label",
    "correct",
    "model_label",
    "model_probability",
    "model_version",
    "mark_x",
    "mark_y",
    "answered_at",
    "expected",
)


def shortcut_summary(rows: Sequence, mode: str = "shortcut") -> list[dict]:
    """Answers of one non-reading mode ("Spot the shortcut", "Which map can you trust?") per case, the least
    often right first. The keys are N_-marked column names: pages show them translated."""
    by: dict[tuple, list[bool]] = {}
    for r in rows:
        if r.mode == mode:
            by.setdefault((r.case_id, r.case_title, r.expected), []).append(r.correct)
    return [
        {N_("case"): f"#{c} · {t}", N_("accepted answer"): e, N_("answers"): len(v), N_("right"): sum(v) / len(v)}
        for (c, t, e), v in sorted(by.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
    ]


def per_student(rows: Sequence, students: Sequence[str], attempts: Sequence[AttemptResult]) -> list[dict]:
    """One row per student: quizzes, answers, accuracy, the last quiz's Brier score and streaks (N_-marked keys)."""
    summary = []
    for name in students:
        mine = [r for r in rows if r.user == name]
        current, best = streaks(
            [r.correct for r in sorted(mine, key=lambda r: (r.started_at, r.attempt_id, r.position))]
        )
        quizzes = [a for a in attempts if a.user == name]
        summary.append(
            {
                N_("student"): name,
                N_("quizzes"): len(quizzes),
                N_("answers"): len(mine),
                N_("accuracy"): sum(r.correct for r in mine) / len(mine) if mine else None,
                N_("last quiz Brier"): quizzes[-1].brier if quizzes else None,
                N_("best streak"): best,
                N_("current streak"): current,
            }
        )
    return summary


def to_csv(rows: Sequence) -> str:
    """All answers as CSV (UTC ISO-8601 times; empty cells for missing values). A text cell that a spreadsheet
    would run as a formula (a title or set name opening with = + - @) starts with `'` (core.safe_text.csv_cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        values = []
        for name in CSV_COLUMNS:
            value = getattr(r, name, None)
            if isinstance(value, datetime):
                value = value.isoformat(timespec="seconds")
            values.append("" if value is None else csv_cell(value))
        writer.writerow(values)
    return out.getvalue()
