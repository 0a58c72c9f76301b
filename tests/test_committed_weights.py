"""CI gate on the committed model: its hash matches classifier.json and it still classifies.

Skipped, with the reason, while weights/ holds no trained model.
"""

import json
from pathlib import Path

import pytest

from core.model_service import ModelService
from core.models.weights import META_FILE, WEIGHTS_FILE, sha256_file
from core.training import dataset

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
SUBSET_SIZE = 40
MIN_ACCURACY = 0.85

pytestmark = pytest.mark.skipif(
    not (WEIGHTS / WEIGHTS_FILE).is_file(),
    reason=f"no trained weights committed yet ({WEIGHTS / WEIGHTS_FILE} is missing)",
)


def fixed_subset(folder: Path) -> list:
    """Every k-th image of each class of kermany224/test, sorted by name: the same 40 every run."""
    subset = []
    for label in (0, 1):
        samples = [s for s in dataset.list_labelled(folder) if s.label == label]
        step = max(len(samples) // (SUBSET_SIZE // 2), 1)
        subset += samples[::step][: SUBSET_SIZE // 2]
    return subset


def test_weights_match_their_recorded_hash():
    meta = json.loads((WEIGHTS / META_FILE).read_text())
    assert sha256_file(WEIGHTS / WEIGHTS_FILE) == meta["weights_sha256"]
    guard = WEIGHTS / "input_guard.safetensors"
    if guard.is_file():
        assert meta["input_guard"]["classifier_sha256"] == meta["weights_sha256"]


def test_accuracy_on_a_fixed_test_subset(kermany_test_dir):
    service = ModelService(WEIGHTS)
    assert service.info.trained
    subset = fixed_subset(kermany_test_dir)
    assert len(subset) == SUBSET_SIZE
    probs = service.predict_grays(list(dataset.load_pixels(subset, cache=False)))
    predicted = probs >= service.info.threshold
    accuracy = float((predicted == [s.label == 1 for s in subset]).mean())
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.3f} on the fixed {SUBSET_SIZE}-image subset"
