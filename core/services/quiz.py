"""Quiz attempts in the library: choosing cases, storing answers, reading history.

The ground truth of a case is read only inside `record_answer` and `reveal`, i.e. after the
answer is stored — nothing handed to the page before that carries it.

Who may: starting, answering and ending a quiz need the student role (db.permissions.require, with
the roles the library holds now), and a student reads and answers only their own attempts (get_attempt).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.i18n import N_
from core.teaching import trust_quiz
from core.teaching.quiz_rules import MODES, due_for_review, review_schedule, streaks
from core.vocabulary import CLASS_NAMES, QUIZ_MODES
from db.errors import LibraryError, NotFound
from db.models import Case, Image, Prediction, QuizAnswer, QuizAttempt, TeachingSet, utcnow
from db.permissions import require
from db.repository import case_prediction, meta_once, prediction_cam
from db.teaching import set_case_ids

RANDOM_SOURCE = N_("random from the library")  # stored as the attempt's source; shown translated
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
    mark: tuple[float, float] | None = None  # where the student clicked, as fractions of width and height
    expected: tuple[str, ...] = ()  # "Spot the shortcut": the accepted answers
    expected_basis: str | None = None
    limits: dict | None = None  # the stored model-limits figures (flags, shares) of the prediction
    lung_mask: bytes | None = None


@dataclass(frozen=True)
class HeatmapQuestion:
    """ "Spot the shortcut" before the answer: the pixels, the Grad-CAM and the lung mask — no flags, tags or label."""

    attempt_id: int
    position: int
    total: int
    png: bytes
    cam: object
    lung_mask: bytes | None


def _labelled(query):
    return query.where(Case.truth_label.in_(CLASS_NAMES))


def _reading_attempts(session: Session, user_id: int, before: int | None = None) -> list[int]:
    """The student's reading-mode attempts (see core.teaching.quiz_rules.QuizMode.reading), oldest first; their index counts quizzes."""
    query = (
        select(QuizAttempt.id)
        .where(QuizAttempt.user_id == user_id, QuizAttempt.mode.in_([m.key for m in MODES.values() if m.reading]))
        .order_by(QuizAttempt.started_at, QuizAttempt.id)
    )
    ids = list(session.scalars(query))
    return ids[: ids.index(before)] if before in ids else ids


def _schedule(session: Session, attempt_ids: list[int]) -> dict:
    """core.teaching.quiz_rules's Leitner schedule after the quizzes `attempt_ids` (in order)."""
    if not attempt_ids:
        return {}
    index = {a: i for i, a in enumerate(attempt_ids)}
    rows = session.execute(
        select(QuizAnswer.attempt_id, QuizAnswer.case_id, QuizAnswer.correct)
        .where(QuizAnswer.attempt_id.in_(attempt_ids), QuizAnswer.case_id.is_not(None))
        .order_by(QuizAnswer.answered_at, QuizAnswer.id)
    )
    # The query already excludes answers of deleted cases; `is not None` only tells the type checker.
    events = [(index[a], c, ok) for a, c, ok in rows if c is not None]
    return review_schedule(sorted(events, key=lambda e: e[0]))  # stable sort


def _review_due(session: Session, user_id: int, attempt_ids: list[int]) -> list[int]:
    """Cases due for review in the quiz that follows `attempt_ids`."""
    return due_for_review(_schedule(session, attempt_ids), len(attempt_ids))


def review_due(session: Session, user_id: int) -> list[int]:
    """Cases this student missed that are due again in their next quiz, longest overdue first."""
    return _review_due(session, user_id, _reading_attempts(session, user_id))


def under_review(session: Session, user_id: int) -> int:
    """How many missed cases are still coming back (due now or later) for this student."""
    return len(_schedule(session, _reading_attempts(session, user_id)))


def review_cases(session: Session, attempt_id: int, user_id: int) -> list[int]:
    """Which of this attempt's cases came back for review (were due when it started)."""
    attempt = get_attempt(session, attempt_id, user_id)
    if not MODES[attempt.mode].reading:
        return []
    due = set(_review_due(session, user_id, _reading_attempts(session, user_id, before=attempt.id)))
    return [c for c in attempt.case_ids if c in due]


def start_attempt(
    session: Session,
    user_id: int,
    mode: str,
    length: int,
    set_id: int | None = None,
    model_version: str | None = None,
    rng: random.Random | None = None,
) -> QuizAttempt:
    """Pick the cases (labelled ones only: an unlabelled case cannot be scored) and store the attempt.

    Cases the student missed that are due for review come first in the choice (from the chosen
    set only, when there is one); the rest are the set's first cases or a random sample.
    """
    require(session, user_id, "start_quiz")
    if mode not in QUIZ_MODES or mode not in MODES:
        raise LibraryError(N_("Unknown quiz mode {mode!r}."), mode=mode)
    if MODES[mode].needs_model and model_version is None:
        raise LibraryError(N_("This quiz mode needs a trained model; none is installed."))
    if not 1 <= length <= MAX_LENGTH:
        raise LibraryError(N_("A quiz has 1 to {most} cases."), most=MAX_LENGTH)
    query = _labelled(select(Case.id))
    if model_version is not None and MODES[mode].needs_model:
        # The model must have an answer on every case, or the running score compares different things.
        query = query.join(
            Prediction, (Prediction.image_id == Case.image_id) & (Prediction.model_version == model_version)
        )
        if MODES[mode].needs_limits:
            query = query.where(Prediction.lung_share.is_not(None))
    due = review_due(session, user_id) if MODES[mode].reading else []
    if set_id is not None:
        teaching_set = session.get(TeachingSet, set_id)
        if teaching_set is None or not teaching_set.published:
            raise NotFound(N_("That teaching set is not published (or no longer exists)."))
        order = set_case_ids(session, set_id)
        usable = set(session.scalars(query.where(Case.id.in_(order))))
        review = set([c for c in due if c in usable][:length])
        fill = [c for c in order if c in usable and c not in review][: length - len(review)]
        chosen = [c for c in order if c in review or c in fill]  # shown in the instructor's order
        source = teaching_set.name
    else:
        pool = list(session.scalars(query.order_by(Case.id)))
        usable = set(pool)
        review_first = [c for c in due if c in usable][:length]
        rest = [c for c in pool if c not in review_first]
        rng = rng or random.SystemRandom()
        chosen = review_first + rng.sample(rest, min(length - len(review_first), len(rest)))
        rng.shuffle(chosen)  # review cases first would tell the student which ones they missed
        source = RANDOM_SOURCE
    if not chosen:
        raise LibraryError(
            N_(
                "No cases with a ground truth and the model-limits figures (`python -m db limits`) are available "
                "for this quiz."
            )
            if MODES[mode].needs_limits
            else N_("No cases with a ground truth and a stored model prediction are available for this quiz.")
            if MODES[mode].needs_model
            else N_("No cases with a ground truth are available for this quiz.")
        )
    attempt = QuizAttempt(
        user_id=user_id, set_id=set_id, source=source, mode=mode, case_ids=chosen, model_version=model_version
    )
    session.add(attempt)
    session.flush()
    return attempt


def get_attempt(session: Session, attempt_id: int, user_id: int) -> QuizAttempt:
    attempt = session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id:  # nobody reads or answers someone else's quiz
        raise NotFound(N_("That quiz does not exist."))
    return attempt


def unfinished_attempt(session: Session, user_id: int) -> QuizAttempt | None:
    """The student's latest quiz that still has unanswered cases: a reload or a new login resumes it."""
    return session.scalars(
        select(QuizAttempt)
        .where(QuizAttempt.user_id == user_id, QuizAttempt.finished_at.is_(None))
        .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc())
    ).first()


def end_attempt(session: Session, attempt_id: int, user_id: int) -> QuizAttempt:
    """The student stops a quiz before its last case: it stays in the history with the answers given."""
    require(session, user_id, "end_quiz")
    attempt = get_attempt(session, attempt_id, user_id)
    if attempt.finished_at is None:
        attempt.finished_at = utcnow()
    return attempt


def answered_count(session: Session, attempt_id: int) -> int:
    # COUNT(*) always yields exactly one row.
    return session.execute(
        select(func.count()).select_from(QuizAnswer).where(QuizAnswer.attempt_id == attempt_id)
    ).scalar_one()


def question(session: Session, attempt_id: int, user_id: int, position: int) -> Question:
    attempt = get_attempt(session, attempt_id, user_id)
    if not 0 <= position < len(attempt.case_ids):
        raise LibraryError(N_("That question is not part of this quiz."))
    png = session.scalar(
        select(Image.png).join(Case, Case.image_id == Image.id).where(Case.id == attempt.case_ids[position])
    )
    if png is None:
        raise NotFound(N_("This case was removed from the library since the quiz started."))
    return Question(attempt.id, position, len(attempt.case_ids), png)


def heatmap_question(session: Session, attempt_id: int, user_id: int, position: int) -> HeatmapQuestion:
    """The question of a "Spot the shortcut" quiz: what the student judges, nothing that scores it."""
    q = question(session, attempt_id, user_id, position)
    attempt = get_attempt(session, attempt_id, user_id)
    case = session.get(Case, attempt.case_ids[position])
    if case is None:
        raise NotFound(N_("This case was removed from the library since the quiz started."))
    pred = case_prediction(session, case, attempt.model_version)
    if pred is None or pred.limits is None:
        raise NotFound(N_("This case has no model-limits figures for the quiz's model any more."))
    return HeatmapQuestion(q.attempt_id, q.position, q.total, q.png, prediction_cam(pred), pred.lung_mask)


TRUST_SECRET = "trust_quiz_secret"


def trust_secret(session: Session) -> str:
    """The library's secret for the order of "Which map can you trust?" maps; made on first use."""
    return meta_once(session, TRUST_SECRET, secrets.token_hex(16))


def _shortcut_truth(session: Session, case: Case, pred: Prediction | None, model_version: str | None):
    """Expected answers from the prediction's flags, reviewers' verdicts and reviewers' tags, as they are now."""
    from core.teaching.shortcut import shortcut_truth
    from db.limits import latest_verdicts, limit_tags_for

    # A stored prediction implies a model version (case_prediction finds none without one).
    if pred is None or pred.limits is None or model_version is None:
        raise NotFound(N_("This case lost its model-limits figures since the quiz started."))
    verdicts = latest_verdicts(session, [case.id], model_version).get(case.id, {})
    rejected = [flag for flag, v in verdicts.items() if v.verdict == "rejected"]
    return shortcut_truth(
        list(pred.limits.get("flags", [])),
        rejected,
        limit_tags_for(session, [case.id]).get(case.id, []),
        pred.limits.get("lung_share"),
    )


def record_answer(
    session: Session,
    attempt_id: int,
    user_id: int,
    position: int,
    answer: str,
    confidence: float,
    mark: tuple[float, float] | None = None,
) -> QuizAnswer:
    """Store one answer with the truth and the model's output as they are now. Answering twice is refused.

    `mark`: where the student clicked, (x, y) as fractions of the image's width and height, or None.
    """
    from core.teaching.shortcut import CHOICES

    require(session, user_id, "answer_quiz")
    attempt = get_attempt(session, attempt_id, user_id)  # only the student's own attempt
    reading = MODES[attempt.mode].reading
    trust = attempt.mode == "trust"
    if reading and answer not in CLASS_NAMES:
        raise LibraryError(N_("Answer NORMAL or PNEUMONIA, not {answer!r}."), answer=answer)
    if trust and answer not in trust_quiz.LETTERS:
        raise LibraryError(
            N_("Answer one of {choices}, not {answer!r}."), choices=", ".join(trust_quiz.LETTERS), answer=answer
        )
    if not reading and not trust and answer not in CHOICES:
        raise LibraryError(N_("Answer one of {choices}, not {answer!r}."), choices=", ".join(CHOICES), answer=answer)
    if not 0.5 <= confidence <= 1.0:
        raise LibraryError(N_("Confidence is between 50 % and 100 %."))
    if mark is not None and not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in mark):
        raise LibraryError(N_("A mark is a point on the image: x and y between 0 and 1."))
    if position != answered_count(session, attempt_id):
        raise LibraryError(N_("This question was already answered (or an earlier one was not)."))
    case = session.get(Case, attempt.case_ids[position])
    if case is None or case.truth_label not in CLASS_NAMES:
        raise NotFound(N_("This case was removed or lost its ground truth since the quiz started."))
    pred = case_prediction(session, case, attempt.model_version)
    the_answer = {
        "attempt_id": attempt.id,
        "position": position,
        "case_id": case.id,
        "answer": answer,
        "confidence": float(confidence),
        "mark_x": float(mark[0]) if mark else None,
        "mark_y": float(mark[1]) if mark else None,
    }
    if reading:
        row = QuizAnswer(
            **the_answer,
            truth_label=case.truth_label,
            correct=answer == case.truth_label,
            model_label=pred.label if pred else None,
            model_probability=pred.probability if pred else None,
        )
    elif trust:
        # The letter is turned into what stood behind it only now, after the answer: A/B/C → candidate.
        chosen = trust_quiz.chosen_candidate(trust_secret(session), attempt.id, position, answer)
        row = QuizAnswer(
            **the_answer | {"answer": chosen},
            truth_label=trust_quiz.TRAINED,
            correct=chosen == trust_quiz.TRAINED,
            expected=trust_quiz.TRAINED,
            expected_basis=trust_quiz.BASIS,
        )
    else:
        # The truth of a shortcut question is what the heatmap sat on, not the diagnosis; the model's
        # own reading is not a competitor here, so it is not stored as one.
        truth = _shortcut_truth(session, case, pred, attempt.model_version)
        row = QuizAnswer(
            **the_answer,
            truth_label="shortcut" if truth.categories else "lungs",
            correct=truth.is_correct(answer),
            expected=",".join(sorted(truth.answer_set)),
            expected_basis=truth.basis,
        )
    session.add(row)
    if position == len(attempt.case_ids) - 1:
        attempt.finished_at = utcnow()
    session.flush()
    return row


def reveal(session: Session, attempt_id: int, user_id: int, position: int) -> Reveal:
    """The answer sheet for one question — only once it is answered."""
    attempt = get_attempt(session, attempt_id, user_id)
    row = session.scalars(
        select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id, QuizAnswer.position == position)
    ).first()
    if row is None:
        raise LibraryError(N_("Answer first; the truth is shown after."))
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    pred = case_prediction(session, case, attempt.model_version) if case is not None else None
    return Reveal(
        case_id=row.case_id,
        title=case.title if case else "(removed case)",
        answer=row.answer,
        confidence=row.confidence,
        truth_label=row.truth_label,
        correct=row.correct,
        model_label=row.model_label,
        model_probability=row.model_probability,
        model_version=attempt.model_version,
        notes=case.notes if case else "",
        png=case.image.png if case else b"",
        cam=prediction_cam(pred) if pred else None,
        cam_target=pred.cam_target if pred else None,
        mark=(row.mark_x, row.mark_y) if row.mark_x is not None and row.mark_y is not None else None,
        expected=tuple(row.expected.split(",")) if row.expected else (),
        expected_basis=row.expected_basis,
        limits=pred.limits if pred else None,
        lung_mask=pred.lung_mask if pred else None,
    )


def attempt_answers(session: Session, attempt_id: int, user_id: int) -> list[QuizAnswer]:
    return list(get_attempt(session, attempt_id, user_id).answers)


def history(session: Session, user_id: int) -> list[tuple[QuizAttempt, list[QuizAnswer]]]:
    attempts = session.scalars(
        select(QuizAttempt)
        .where(QuizAttempt.user_id == user_id)
        .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc())
    )
    return [(a, list(a.answers)) for a in attempts]


def streaks_of(session: Session, user_id: int) -> tuple[int, int]:
    """(current, best) run of right answers over every answer of the student, quiz after quiz: the streak."""
    return streaks(
        list(
            session.scalars(
                select(QuizAnswer.correct)
                .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
                .where(QuizAttempt.user_id == user_id)
                .order_by(QuizAttempt.started_at, QuizAttempt.id, QuizAnswer.position)
            )
        )
    )
