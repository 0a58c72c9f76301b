"""Quiz attempts in the library: choosing cases, storing answers, reading history.

The ground truth of a case is read only inside `record_answer` and `reveal`, i.e. after the
answer is stored — nothing handed to the page before that carries it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import LibraryError, NotFound
from db.models import LABELS, QUIZ_MODES, Case, Image, Prediction, QuizAnswer, QuizAttempt, TeachingSet, utcnow
from db.repository import case_prediction, prediction_cam
from db.teaching import set_case_ids

RANDOM_SOURCE = "random from the library"
MAX_LENGTH = 50


@dataclass(frozen=True)
class Question:
    """What the page may show before the answer: a position and the pixels, nothing else."""
    attempt_id: int
    position: int
    total: int
    png: bytes


@dataclass(frozen=True)
class Reveal:
    case_id: int | None
    title: str
    answer: str
    confidence: float
    truth_label: str
    correct: bool
    model_label: str | None
    model_probability: float | None
    model_version: str | None
    notes: str
    png: bytes
    cam: object | None  # numpy array of the stored Grad-CAM, or None without a stored prediction
    cam_target: str | None


def _labelled(query):
    return query.where(Case.truth_label.in_(LABELS))


def start_attempt(session: Session, user_id: int, mode: str, length: int, set_id: int | None = None,
                  model_version: str | None = None, rng: random.Random | None = None) -> QuizAttempt:
    """Pick the cases (labelled ones only: an unlabelled case cannot be scored) and store the attempt."""
    if mode not in QUIZ_MODES:
        raise LibraryError(f"Unknown quiz mode {mode!r}.")
    if mode == "versus" and model_version is None:
        raise LibraryError("“You vs the model” needs a trained model; none is installed.")
    if not 1 <= length <= MAX_LENGTH:
        raise LibraryError(f"A quiz has 1 to {MAX_LENGTH} cases.")
    query = _labelled(select(Case.id))
    if model_version is not None and mode == "versus":
        # The model must have an answer on every case, or the running score compares different things.
        query = query.join(Prediction, (Prediction.image_id == Case.image_id) & (Prediction.model_version == model_version))
    if set_id is not None:
        teaching_set = session.get(TeachingSet, set_id)
        if teaching_set is None or not teaching_set.published:
            raise NotFound("That teaching set is not published (or no longer exists).")
        usable = set(session.scalars(query.where(Case.id.in_(set_case_ids(session, set_id)))))
        chosen = [c for c in set_case_ids(session, set_id) if c in usable][:length]  # the instructor's order
        source = teaching_set.name
    else:
        pool = list(session.scalars(query.order_by(Case.id)))
        chosen = (rng or random.SystemRandom()).sample(pool, min(length, len(pool)))
        source = RANDOM_SOURCE
    if not chosen:
        raise LibraryError("No cases with a ground truth" + (" and a stored model prediction" if mode == "versus" else "")
                           + " are available for this quiz.")
    attempt = QuizAttempt(user_id=user_id, set_id=set_id, source=source, mode=mode, case_ids=chosen,
                          model_version=model_version)
    session.add(attempt)
    session.flush()
    return attempt


def get_attempt(session: Session, attempt_id: int, user_id: int) -> QuizAttempt:
    attempt = session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id:  # nobody reads or answers someone else's quiz
        raise NotFound("That quiz does not exist.")
    return attempt


def answered_count(session: Session, attempt_id: int) -> int:
    return session.scalar(select(func.count()).select_from(QuizAnswer).where(QuizAnswer.attempt_id == attempt_id))


def question(session: Session, attempt_id: int, user_id: int, position: int) -> Question:
    attempt = get_attempt(session, attempt_id, user_id)
    if not 0 <= position < len(attempt.case_ids):
        raise LibraryError("That question is not part of this quiz.")
    png = session.scalar(select(Image.png).join(Case, Case.image_id == Image.id).where(Case.id == attempt.case_ids[position]))
    if png is None:
        raise NotFound("This case was removed from the library since the quiz started.")
    return Question(attempt.id, position, len(attempt.case_ids), png)


def record_answer(session: Session, attempt_id: int, user_id: int, position: int, answer: str,
                  confidence: float) -> QuizAnswer:
    """Store one answer with the truth and the model's output as they are now. Answering twice is refused."""
    attempt = get_attempt(session, attempt_id, user_id)
    if answer not in LABELS:
        raise LibraryError(f"Answer NORMAL or PNEUMONIA, not {answer!r}.")
    if not 0.5 <= confidence <= 1.0:
        raise LibraryError("Confidence is between 50 % and 100 %.")
    if position != answered_count(session, attempt_id):
        raise LibraryError("This question was already answered (or an earlier one was not).")
    case = session.get(Case, attempt.case_ids[position])
    if case is None or case.truth_label not in LABELS:
        raise NotFound("This case was removed or lost its ground truth since the quiz started.")
    pred = case_prediction(session, case, attempt.model_version)
    row = QuizAnswer(attempt_id=attempt.id, position=position, case_id=case.id, answer=answer,
                     confidence=float(confidence), truth_label=case.truth_label, correct=answer == case.truth_label,
                     model_label=pred.label if pred else None, model_probability=pred.probability if pred else None)
    session.add(row)
    if position == len(attempt.case_ids) - 1:
        attempt.finished_at = utcnow()
    session.flush()
    return row


def reveal(session: Session, attempt_id: int, user_id: int, position: int) -> Reveal:
    """The answer sheet for one question — only once it is answered."""
    attempt = get_attempt(session, attempt_id, user_id)
    row = session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id,
                                                   QuizAnswer.position == position)).first()
    if row is None:
        raise LibraryError("Answer first; the truth is shown after.")
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    pred = case_prediction(session, case, attempt.model_version) if case is not None else None
    return Reveal(case_id=row.case_id, title=case.title if case else "(removed case)", answer=row.answer,
                  confidence=row.confidence, truth_label=row.truth_label, correct=row.correct,
                  model_label=row.model_label, model_probability=row.model_probability,
                  model_version=attempt.model_version, notes=case.notes if case else "", png=case.image.png if case else b"",
                  cam=prediction_cam(pred) if pred else None, cam_target=pred.cam_target if pred else None)


def attempt_answers(session: Session, attempt_id: int, user_id: int) -> list[QuizAnswer]:
    return list(get_attempt(session, attempt_id, user_id).answers)


def history(session: Session, user_id: int) -> list[tuple[QuizAttempt, list[QuizAnswer]]]:
    attempts = session.scalars(select(QuizAttempt).where(QuizAttempt.user_id == user_id)
                               .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc()))
    return [(a, list(a.answers)) for a in attempts]
