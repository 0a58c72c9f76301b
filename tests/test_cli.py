import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args, weights_dir=None):
    env = dict(os.environ)
    if weights_dir is not None:
        env["CXR_WEIGHTS_DIR"] = str(weights_dir)
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_analyze_json_with_trained_weights(trained_weights_dir, kermany_test_dir):
    image = next((kermany_test_dir / "NORMAL").glob("*.jpeg"))
    done = run_cli("analyze", image, "--json", weights_dir=trained_weights_dir)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["label"] in ("NORMAL", "PNEUMONIA")
    assert 0.0 <= out["probability_pneumonia"] <= 1.0
    assert out["model_trained"] is True and len(out["model_version"]) == 12
    assert {"peak", "zone_share", "border_share"} <= set(out["cam_summary"])
    assert "does not diagnose" in out["disclaimer"]


def test_analyze_text_with_placeholder_shows_no_prediction(tmp_path, xray_bytes):
    image = tmp_path / "x.jpeg"
    image.write_bytes(xray_bytes)
    done = run_cli("analyze", image, weights_dir=tmp_path / "no-weights")
    assert done.returncode == 0
    assert "label: none" in done.stdout and "probability" not in done.stdout
    assert "no trained model" in done.stderr


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", b"just some text", "Not an image"),
        ("empty.png", b"", "empty"),
        ("cut.jpeg", None, "truncated or corrupt"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, xray_bytes, name, content, message):
    path = tmp_path / name
    path.write_bytes(xray_bytes[: len(xray_bytes) // 3] if content is None else content)
    done = run_cli("analyze", path, weights_dir=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr


def test_missing_file_and_directory_exit_2(tmp_path):
    for target in (tmp_path / "nope.png", tmp_path):
        done = run_cli("analyze", target, weights_dir=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
