"""CI gate on the committed lung segmenter: its hash matches lungs.json and its Dice on lungs224/test.

Skipped, with the reason, while weights/ holds no segmenter.
"""

import json
from pathlib import Path

import pytest

from core.models.lungs import LUNG_META, LUNG_WEIGHTS, LungSegmenter
from core.models.weights import sha256_file
from core.training.train_lungs import evaluate_folder

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
MIN_DICE = 0.92

pytestmark = pytest.mark.skipif(
    not (WEIGHTS / LUNG_WEIGHTS).is_file(),
    reason=f"no lung segmenter committed yet ({WEIGHTS / LUNG_WEIGHTS} is missing)",
)


def test_segmenter_matches_its_recorded_hash():
    meta = json.loads((WEIGHTS / LUNG_META).read_text())
    assert sha256_file(WEIGHTS / LUNG_WEIGHTS) == meta["sha256"]


def test_segmenter_dice_on_the_test_masks():
    result = evaluate_folder(LungSegmenter.load(WEIGHTS), "test")
    assert result["n"] >= 150
    assert result["mean_dice"] >= MIN_DICE, result
    recorded = json.loads((WEIGHTS / LUNG_META).read_text())["test"]["mean_dice"]
    assert result["mean_dice"] == pytest.approx(recorded, abs=2e-3)


def test_flag_thresholds_belong_to_the_committed_classifier():
    limits = WEIGHTS / "limits.json"
    if not limits.is_file():
        pytest.skip("no flag thresholds fitted yet (python -m core limits-fit)")
    data = json.loads(limits.read_text())
    assert data["classifier_sha256"] == sha256_file(WEIGHTS / "classifier.safetensors")
    assert data["segmenter_version"] == sha256_file(WEIGHTS / LUNG_WEIGHTS)[:12]
