"""The one-number uncertainty the library stores agrees with the level the page shows."""

import numpy as np
import pytest

from core.reliability.input_check import IN_DISTRIBUTION, NOT_CHEST_XRAY, OUT_OF_DISTRIBUTION, GuardVerdict
from core.reliability.uncertainty import CONFIDENT, UNCERTAIN, UNRELIABLE, assess

BAND = {"half_width_logit": 1.0}


@pytest.mark.parametrize("probability", np.linspace(0.01, 0.99, 41))
def test_score_at_least_half_exactly_when_not_confident(probability):
    result = assess(float(probability), 0.5, BAND)
    assert (result.score >= 0.5) == (result.level != CONFIDENT)


def test_score_grows_towards_the_threshold_and_flags_unusual_or_overridden_images():
    far, near = assess(0.99, 0.5, BAND), assess(0.55, 0.5, BAND)
    assert far.level == CONFIDENT and near.level == UNCERTAIN and far.score < 0.5 < near.score
    unusual = GuardVerdict(IN_DISTRIBUTION, "ok", 10.0, 20.0, 0.0, familiarity_percentile=1.0)
    assert assess(0.99, 0.5, BAND, unusual).level == UNCERTAIN
    assert assess(0.99, 0.5, BAND, unusual).score >= 0.5
    overridden = GuardVerdict(NOT_CHEST_XRAY, "photo", 99.0, 20.0, 30.0, 0.0, overridden=True, stage=1)
    assert assess(0.99, 0.5, BAND, overridden).level == UNRELIABLE
    assert assess(0.99, 0.5, BAND, overridden).score == 1.0
    elsewhere = GuardVerdict(OUT_OF_DISTRIBUTION, "adult film", 40.0, 20.0, 0.0, 0.0, stage=2)
    warned = assess(0.99, 0.5, BAND, elsewhere)
    assert warned.level == UNRELIABLE and "unlike the training films" in warned.reasons[0]
