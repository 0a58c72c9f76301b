"""Quiz modes, scoring (accuracy, Brier score of stated confidences, streaks) and the review schedule.

A student's answer with confidence c (0.5 = a coin flip, 1.0 = certain) is a probability of
pneumonia: c for a PNEUMONIA answer, 1 - c for a NORMAL one. The Brier score is the mean squared
gap between that probability and the truth (0 is perfect; always saying 50 % scores 0.25).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.i18n import N_

POSITIVE = "PNEUMONIA"


@dataclass(frozen=True)
class QuizMode:
    """What the quiz page and the case picker need to know about a mode.

    A new mode is one entry here, its name in core.vocabulary.QUIZ_MODES, and its question/reveal views
    in pages/quiz.py (tests check the three agree).
    """

    key: str
    label: str  # N_-marked: pages show _(label)
    help: str
    needs_model: bool = False  # every case must have the installed model's stored prediction
    reading: bool = True  # the student reads the image NORMAL/PNEUMONIA: misses feed the review schedule
    needs_limits: bool = False  # every case must carry the model-limits figures (lung mask, flags)


MODES = {
    m.key: m
    for m in (
        QuizMode(
            "diagnose",
            N_("Diagnose"),
            N_("Read each image, then see the truth, the model and the instructor's notes."),
        ),
        QuizMode(
            "versus",
            N_("You vs the model"),
            N_("A running score of you and the model on the same cases."),
            needs_model=True,
        ),
        QuizMode(
            "shortcut",
            N_("Spot the shortcut"),
            N_(
                "See the model's heatmap and say what it looked at: the lungs, a "
                "marker, an edge or border, or elsewhere. Scored against the shortcut flags and reviewers' tags."
            ),
            needs_model=True,
            reading=False,
            needs_limits=True,
        ),
        QuizMode(
            "trust",
            N_("Which map can you trust?"),
            N_(
                "Three maps of the same case: one from the trained model, one from the model with its top layers "
                "scrambled, one from an edge detector that ignores the model. Pick the one that explains the model."
            ),
            needs_model=True,
            reading=False,
        ),
    )
}


def pneumonia_probability(answer: str, confidence: float) -> float:
    if not 0.5 <= confidence <= 1.0:
        raise ValueError(f"confidence must be between 0.5 and 1.0, not {confidence}")
    return confidence if answer == POSITIVE else 1.0 - confidence


def brier(probabilities: Sequence[float], truths: Sequence[str]) -> float | None:
    if not probabilities:
        return None
    return sum((p - (t == POSITIVE)) ** 2 for p, t in zip(probabilities, truths, strict=True)) / len(probabilities)


def confidence_brier(answers: Sequence) -> float | None:
    """Brier score of the confidence in one's own answer: (c − right)². For a NORMAL/PNEUMONIA
    answer this equals the Brier score of the implied P(pneumonia), and it also scores modes
    whose answers are not a class (Spot the shortcut)."""
    if not answers:
        return None
    return sum((a.confidence - bool(a.correct)) ** 2 for a in answers) / len(answers)


def streaks(correct: Sequence[bool]) -> tuple[int, int]:
    """(current run of right answers at the end, longest run). The lab counts streaks over all of a
    student's answers, quiz after quiz (core.services.quiz.streaks_of), never within one quiz."""
    current = best = 0
    for ok in correct:
        current = current + 1 if ok else 0
        best = max(best, current)
    return current, best


@dataclass(frozen=True)
class Score:
    answered: int
    correct: int
    brier: float | None
    # The model on the same cases (only those where a stored prediction existed).
    model_answered: int = 0
    model_correct: int = 0
    model_brier: float | None = None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    @property
    def model_accuracy(self) -> float | None:
        return self.model_correct / self.model_answered if self.model_answered else None


def score(answers: Sequence) -> Score:
    """`answers`: objects with answer, confidence, truth_label, correct, model_label, model_probability."""
    right = [a.correct for a in answers]
    with_model = [a for a in answers if a.model_label is not None and a.model_probability is not None]
    return Score(
        answered=len(answers),
        correct=sum(right),
        brier=confidence_brier(answers),
        model_answered=len(with_model),
        model_correct=sum(a.model_label == a.truth_label for a in with_model),
        model_brier=brier([a.model_probability for a in with_model], [a.truth_label for a in with_model]),
    )


# ---------- spaced repetition ------------------------------------------------------------------
# Leitner boxes counted in quizzes: a missed case is due in the student's next quiz; each right
# answer in a row since the miss doubles the wait (1, 2, 4 quizzes); the next right answer retires it.
REVIEW_INTERVALS = (1, 2, 4)


@dataclass(frozen=True)
class Review:
    case_id: int
    box: int  # right answers in a row since the last miss
    due_at: int  # index of the student's quiz (0 = their first) from which the case is due again


def review_schedule(events: Iterable[tuple[int, int, bool]]) -> dict[int, Review]:
    """`events`: (quiz index, case id, correct) in the order answered → the cases still under review."""
    state: dict[int, tuple[int, int]] = {}  # case id → (quiz index of its last answer, box)
    for quiz_index, case_id, correct in events:
        if not correct:
            state[case_id] = (quiz_index, 0)
        elif case_id in state:
            box = state[case_id][1] + 1
            if box >= len(REVIEW_INTERVALS):
                del state[case_id]
            else:
                state[case_id] = (quiz_index, box)
    return {case: Review(case, box, last + REVIEW_INTERVALS[box]) for case, (last, box) in state.items()}


def due_for_review(schedule: dict[int, Review], quiz_index: int) -> list[int]:
    """Case ids due in quiz number `quiz_index`, longest overdue first."""
    due = [r for r in schedule.values() if r.due_at <= quiz_index]
    return [r.case_id for r in sorted(due, key=lambda r: (r.due_at, r.box, r.case_id))]
