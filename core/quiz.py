"""Quiz scoring: accuracy, Brier score of stated confidences, streaks — for the student and for the model.

A student's answer with confidence c (0.5 = a coin flip, 1.0 = certain) is a probability of
pneumonia: c for a PNEUMONIA answer, 1 - c for a NORMAL one. The Brier score is the mean squared
gap between that probability and the truth (0 is perfect; always saying 50 % scores 0.25).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

POSITIVE = "PNEUMONIA"


def pneumonia_probability(answer: str, confidence: float) -> float:
    if not 0.5 <= confidence <= 1.0:
        raise ValueError(f"confidence must be between 0.5 and 1.0, not {confidence}")
    return confidence if answer == POSITIVE else 1.0 - confidence


def brier(probabilities: Sequence[float], truths: Sequence[str]) -> float | None:
    if not probabilities:
        return None
    return sum((p - (t == POSITIVE)) ** 2 for p, t in zip(probabilities, truths, strict=True)) / len(probabilities)


def streaks(correct: Sequence[bool]) -> tuple[int, int]:
    """(current run of right answers at the end, longest run)."""
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
    current_streak: int
    best_streak: int
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
    current, best = streaks(right)
    with_model = [a for a in answers if a.model_label is not None and a.model_probability is not None]
    return Score(
        answered=len(answers),
        correct=sum(right),
        brier=brier([pneumonia_probability(a.answer, a.confidence) for a in answers], [a.truth_label for a in answers]),
        current_streak=current,
        best_streak=best,
        model_answered=len(with_model),
        model_correct=sum(a.model_label == a.truth_label for a in with_model),
        model_brier=brier([a.model_probability for a in with_model], [a.truth_label for a in with_model]),
    )
