"""Quiz mode "Which map can you trust?": three maps of one case, one of which explains the model.

The candidates are the trained model's Grad-CAM, the Grad-CAM of the same network with its top
(fc + layer4) re-initialised — the sanity check's scrambled model — and an edge map of the image that
never looks at a model (the control that must fail the sanity check). They are shown as A, B and C
in an order derived from a secret kept in the library, the attempt and the position: the page and
its session hold only the three pictures, never which is which, until the answer is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import random

from core.i18n import N_

TRAINED, SCRAMBLED, EDGES = "trained", "scrambled", "edges"
CANDIDATES = (TRAINED, SCRAMBLED, EDGES)
LETTERS = ("A", "B", "C")
SCRAMBLED_LEVEL = "layer4"  # core.explain.trust.randomisation: fc and layer4 re-initialised
CANDIDATE_WORDS = {  # N_-marked: pages show _(CANDIDATE_WORDS[candidate])
    TRAINED: N_("the trained model's Grad-CAM"),
    SCRAMBLED: N_("Grad-CAM of the same network with its top layers (fc and layer4) scrambled"),
    EDGES: N_("an edge detector's map of the image, which ignores every model"),
}
BASIS = N_(
    "the map that explains the model is the one computed from the trained model; a map that looks much the "
    "same after the model is scrambled, or that an edge detector draws without any model, explains the image"
)


def shown_order(secret: str, attempt_id: int, position: int) -> tuple[str, ...]:
    """Which candidate stands behind A, B and C for this question (the same every time it is asked)."""
    if not secret:
        raise ValueError("the order needs the library's secret")
    digest = hmac.new(secret.encode(), f"{attempt_id}:{position}".encode(), hashlib.sha256).digest()
    order = list(CANDIDATES)
    random.Random(digest).shuffle(order)
    return tuple(order)


def chosen_candidate(secret: str, attempt_id: int, position: int, letter: str) -> str:
    if letter not in LETTERS:
        raise ValueError(f"answer one of {', '.join(LETTERS)}, not {letter!r}")
    return shown_order(secret, attempt_id, position)[LETTERS.index(letter)]
