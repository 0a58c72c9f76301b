"""The question of a "Which map can you trust?" quiz: three maps of the case, in the secret order.

Computed from the installed model (two Grad-CAM forward passes and an edge filter, tens of ms), so
the quiz's model must still be the installed one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from core.explain.methods import explain
from core.explain.trust.controls import sobel_edges
from core.explain.trust.randomisation import cached_randomised_models
from core.imaging.preprocess import resize_gray, to_model_input
from core.model_service import ModelService
from core.services.quiz import get_attempt, question, trust_secret
from core.teaching import trust_quiz
from core.vocabulary import CLASS_NAMES, N_
from db.codec import decode_png
from db.errors import NotFound
from db.models import Case
from db.repository import case_prediction


@dataclass(frozen=True)
class TrustQuestion:
    """What the page shows: the picture and three maps as A, B, C — nothing says which is which."""

    attempt_id: int
    position: int
    total: int
    gray224: np.ndarray
    maps: tuple[np.ndarray, ...]  # in the order of trust_quiz.LETTERS
    target: str
    lung_mask: bytes | None


def candidate_maps(service: ModelService, gray224: np.ndarray, target: str) -> dict[str, np.ndarray]:
    """The three candidates of trust_quiz.CANDIDATES for one picture and target class."""
    x = to_model_input(gray224)
    index = CLASS_NAMES.index(target)
    scrambled = cached_randomised_models(service.model, [trust_quiz.SCRAMBLED_LEVEL])[trust_quiz.SCRAMBLED_LEVEL]
    return {
        trust_quiz.TRAINED: explain(service.model, x, index, ["gradcam"])["gradcam"].map,
        trust_quiz.SCRAMBLED: explain(scrambled, x, index, ["gradcam"])["gradcam"].map,
        trust_quiz.EDGES: sobel_edges(x),
    }


def trust_question(
    session: Session, service: ModelService, attempt_id: int, user_id: int, position: int
) -> TrustQuestion:
    q = question(session, attempt_id, user_id, position)
    attempt = get_attempt(session, attempt_id, user_id)
    if attempt.model_version != service.version:
        raise NotFound(N_("The installed model changed since this quiz started; start a new one."))
    case = session.get(Case, attempt.case_ids[position])
    pred = case_prediction(session, case, attempt.model_version) if case is not None else None
    if case is None or pred is None:
        raise NotFound(N_("This case or its stored prediction was removed since the quiz started."))
    gray224 = resize_gray(decode_png(q.png))
    maps = candidate_maps(service, gray224, pred.label)
    order = trust_quiz.shown_order(trust_secret(session), attempt.id, position)
    return TrustQuestion(
        q.attempt_id, q.position, q.total, gray224, tuple(maps[c] for c in order), pred.label, pred.lung_mask
    )


def revealed_order(session: Session, attempt_id: int, user_id: int, position: int) -> tuple[str, ...]:
    """Which candidate stood behind A, B and C — only once the question is answered."""
    from core.services.quiz import reveal

    reveal(session, attempt_id, user_id, position)  # refuses before the answer
    return trust_quiz.shown_order(trust_secret(session), attempt_id, position)
