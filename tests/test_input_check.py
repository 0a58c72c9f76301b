"""Two-stage input check: stage 1 (a frontal chest X-ray at all?) refuses, stage 2 (like ours?) warns.

Stage 1's rules on synthetic lung-probability maps whose answer is known; then the committed lung
U-Net on real films, photos and rotated films; then the whole path (analysis, JSON, facts,
offline report) for a chest film that stage 2 warns about; and the batch command line.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis import InputFlagged, analyze_bytes
from core.model_service import ModelService
from core.models.lungs import LUNG_WEIGHTS
from core.models.weights import WEIGHTS_FILE
from core.reliability import frontal_check as fc

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "weights"
committed = pytest.mark.skipif(
    not ((WEIGHTS / WEIGHTS_FILE).is_file() and (WEIGHTS / LUNG_WEIGHTS).is_file()),
    reason="needs the committed classifier and lung segmenter",
)


def lung_map(*boxes, sure: float = 0.98) -> np.ndarray:
    """A 224×224 lung-probability map: `sure` inside each (y0, y1, x0, x1) box, 1 − sure outside."""
    prob = np.full((224, 224), 1 - sure, np.float32)
    for y0, y1, x0, x1 in boxes:
        prob[y0:y1, x0:x1] = sure
    return prob


LEFT, RIGHT = (40, 180, 30, 100), (40, 180, 124, 194)


@pytest.mark.parametrize(
    "prob, colour, code",
    [
        (lung_map(LEFT, RIGHT), 0.0, fc.PASSED),
        (lung_map(LEFT, RIGHT), 40.0, fc.COLOUR),
        (lung_map(), 0.0, fc.NO_LUNGS),
        (lung_map((40, 180, 40, 180)), 0.0, fc.ONE_FIELD),  # one large field: a lateral view's look
        (lung_map(LEFT, (40, 60, 150, 160)), 0.0, fc.ONE_FIELD),  # the second far too small
        (lung_map((10, 90, 60, 160), (130, 210, 60, 160)), 0.0, fc.NOT_SIDE_BY_SIDE),  # one above the other
        (lung_map((0, 224, 0, 105), (0, 224, 119, 224)), 0.0, fc.ODD_SIZE),  # "lungs" fill the frame
        (lung_map(LEFT, RIGHT, sure=0.7), 0.0, fc.UNSURE_SEGMENTATION),
    ],
)
def test_stage1_rules_on_maps_with_a_known_answer(prob, colour, code):
    verdict = fc.check_frontal(prob, colour)
    assert verdict.code == code, verdict
    assert verdict.passed == (code == fc.PASSED)
    assert json.loads(json.dumps(verdict.to_dict()))["code"] == code


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def service() -> ModelService:
    return ModelService(WEIGHTS)


@committed
def test_real_films_pass_stage1_and_non_chest_images_are_refused_there(service, kermany_test_dir):
    from skimage import data

    films = (
        sorted((kermany_test_dir / "NORMAL").glob("*.jpeg"))[:4]
        + sorted((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))[:4]
    )
    for path in films:
        guard = analyze_bytes(service, path.read_bytes()).guard
        assert guard.frontal["passed"] and guard.stage == 2, (path.name, guard)
    for image in (data.camera(), data.page(), data.coins(), data.astronaut()):
        with pytest.raises(InputFlagged) as refused:
            analyze_bytes(service, png(image))
        assert refused.value.verdict.stage == 1 and not refused.value.verdict.frontal["passed"]
    turned = np.rot90(np.asarray(Image.open(films[0]).convert("L")))
    with pytest.raises(InputFlagged, match="side by side|one lung field|no lung fields|unclear"):
        analyze_bytes(service, png(turned))


@committed
def test_a_chest_film_unlike_ours_is_analysed_with_a_warning_everywhere(service, kermany_test_dir):
    """Stage 2 warns (here forced by a zero distance limit): analysed, marked unreliable, said in JSON, facts, report."""
    from core.reports import build_facts
    from core.reports.offline import offline_report

    strict = replace_guard_threshold(service, 0.0)
    path = next((kermany_test_dir / "NORMAL").glob("*.jpeg"))
    result = analyze_bytes(strict, path.read_bytes())  # no InputFlagged: stage 2 never refuses
    assert result.guard.unlike_training and not result.guard.flagged and result.guard.stage == 2
    out = result.to_dict()
    assert out["guard"]["verdict"] == "out_of_distribution" and out["guard"]["frontal"]["passed"]
    assert out["uncertainty"]["level"] == "unreliable"
    facts = build_facts(result)
    assert facts.guard_verdict == "unlike_training"
    assert "unlike the training films" in offline_report(facts, "en").quality_cautions
    assert "학습 데이터" in offline_report(facts, "ko").quality_cautions


def replace_guard_threshold(service: ModelService, threshold: float) -> ModelService:
    clone = object.__new__(ModelService)
    clone.__dict__.update(service.__dict__)
    clone.guard = replace(service.guard, threshold=threshold)
    return clone


def run_cli(*args):
    env = dict(os.environ, CXR_WEIGHTS_DIR=str(WEIGHTS))
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@committed
def test_batch_cli_gives_one_json_line_per_file(tmp_path, kermany_test_dir):
    from skimage import data

    film = next((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))
    photo, junk = tmp_path / "camera.png", tmp_path / "notes.txt"
    photo.write_bytes(png(data.camera()))
    junk.write_text("not an image")
    read_all = run_cli("analyze", film, photo, "--json")
    assert read_all.returncode == 0, read_all.stderr
    lines = [json.loads(line) for line in read_all.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(film), str(photo)]
    assert lines[0]["label"] in ("NORMAL", "PNEUMONIA") and lines[0]["guard"]["frontal"]["passed"]
    assert "%" in lines[0]["probability_pneumonia_text"] and 0 < lines[0]["probability_pneumonia"] < 1
    assert lines[1]["stage"] == "not_chest_xray" and "frontal chest X-rays" in lines[1]["refused"]
    with_junk = run_cli("analyze", film, junk, photo, "--json")
    assert with_junk.returncode == 2 and "Traceback" not in with_junk.stderr
    lines = [json.loads(line) for line in with_junk.stdout.splitlines()]
    assert [line.get("stage") for line in lines] == [None, "unreadable", "not_chest_xray"]
    assert "Not an image" in lines[1]["refused"]


def test_a_stored_verdict_reads_back_whole_and_older_records_still_read():
    from core.reliability.input_check import IN_DISTRIBUTION, OUT_OF_DISTRIBUTION, GuardVerdict

    verdict = GuardVerdict(
        OUT_OF_DISTRIBUTION, "unlike", 31.5, 27.5, 0.0, 0.4, stage=2, frontal={"passed": True, "code": fc.PASSED}
    )
    again = GuardVerdict.from_dict(json.loads(json.dumps(verdict.to_dict())))
    assert again == verdict and again.unlike_training and not again.flagged
    older = GuardVerdict.from_dict(
        {
            "verdict": IN_DISTRIBUTION,
            "reason": "ok",
            "distance": 3.0,
            "threshold": 27.5,
            "colourfulness": 0.0,
            "familiarity_percentile": 80.0,
            "overridden": False,
        }
    )
    assert older.stage is None and older.frontal is None and not older.unlike_training
    assert GuardVerdict.from_dict(None) is None
