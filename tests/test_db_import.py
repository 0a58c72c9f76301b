"""`python -m db import / predict / stats` on SQLite and PostgreSQL, including a kill mid-import."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from db_support import cli_env, library, library_url, pg_server, small_folder
from sqlalchemy import text

from db import repository as repo
from db.engine import ensure_library, session_scope

REPO = Path(__file__).resolve().parent.parent


def run_db(env, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "db", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stats(env) -> dict:
    done = run_db(env, "stats", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_without_model_then_predict_then_reimport(cli_env, kermany_test_dir, trained_weights_dir, tmp_path):
    folder = small_folder(kermany_test_dir, tmp_path / "in", per_class=3, loose=1)
    (folder / "NORMAL" / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "readme.txt").write_text("not an image")
    (folder / "misc").mkdir()
    placeholder = dict(cli_env, CXR_WEIGHTS_DIR=str(tmp_path / "no-weights"))

    first = run_db(placeholder, "import", folder)
    assert first.returncode == 0, first.stderr
    assert "added 7 · already present 0 · refused 2" in first.stdout
    assert "refused " + str(folder / "NORMAL" / "broken.jpeg") in first.stdout
    assert "readme.txt: Not an image" in first.stdout
    assert "no predictions stored" in first.stdout and "no trained model" in first.stderr
    assert "ignored folder misc/" in first.stderr
    assert stats(placeholder) == {"cases": 7, "images": 7, "predictions": 0, "reports": 0, "teaching_sets": 0}

    refused = run_db(placeholder, "predict")
    assert refused.returncode == 2 and refused.stderr.startswith("error: no trained model")

    trained = dict(cli_env, CXR_WEIGHTS_DIR=str(trained_weights_dir))
    predicted = run_db(trained, "predict", "--quiet")
    assert predicted.returncode == 0, predicted.stderr
    assert "predictions added for model" in predicted.stdout and predicted.stdout.strip().endswith(": 7")

    again = run_db(trained, "import", folder, "--quiet")
    assert "added 0 · already present 7 · refused 2 · predictions added 0" in again.stdout
    assert stats(trained) == {"cases": 7, "images": 7, "predictions": 7, "reports": 0, "teaching_sets": 0}

    engine = ensure_library(cli_env["DATABASE_URL"])
    with session_scope(engine) as s:
        truths = s.execute(text("SELECT truth_label, count(*) FROM cases GROUP BY truth_label")).all()
        assert dict((k, v) for k, v in truths) == {"NORMAL": 3, "PNEUMONIA": 3, None: 1}


def test_batched_import_predictions_match_single_analysis(library, kermany_test_dir, trained_weights_dir, tmp_path):
    from core.analysis import analyze_bytes
    from core.model_service import ModelService
    from core.services.library_import import import_folder

    folder = small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0)
    service = ModelService(trained_weights_dir)
    summary = import_folder(library, folder, service, batch_size=3)
    assert (summary.added, summary.predictions_added) == (4, 4)
    path = sorted((folder / "PNEUMONIA").iterdir())[0]
    single = analyze_bytes(service, path.read_bytes())
    with session_scope(library) as s:
        case = s.scalars(__import__("sqlalchemy").select(repo.Case).where(repo.Case.title == path.stem)).one()
        pred = repo.case_prediction(s, case, service.version)
        assert pred.probability == pytest.approx(single.probability, abs=1e-4)
        assert pred.label == single.label and pred.cam_summary["peak"] == single.cam_summary["peak"]
        assert np.allclose(repo.prediction_cam(pred), single.cam, atol=2e-3)  # float16 storage
        assert pred.uncertainty == pytest.approx(single.uncertainty.score, abs=1e-3)
        assert pred.guard == single.guard.to_dict()


def test_killed_import_leaves_whole_cases_and_a_rerun_completes(
    cli_env, kermany_test_dir, trained_weights_dir, tmp_path
):
    folder = small_folder(kermany_test_dir, tmp_path / "in", per_class=12, loose=0)
    env = dict(cli_env, CXR_WEIGHTS_DIR=str(trained_weights_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "db", "import", str(folder), "--batch-size", "4", "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = ensure_library(env["DATABASE_URL"])
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            with session_scope(engine) as s:
                if repo.stats(s)["cases"] >= 4:
                    break
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with session_scope(engine) as s:
        partial = repo.stats(s)
        orphans = s.execute(
            text("SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.image_id = i.id)")
        ).scalar()
    assert 4 <= partial["cases"] < 24, partial
    assert partial["cases"] % 4 == 0 and orphans == 0  # whole batches only: no image without its case
    assert partial["predictions"] == partial["cases"] == partial["images"]

    rerun = run_db(env, "import", folder, "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert f"added {24 - partial['cases']} · already present {partial['cases']} · refused 0" in rerun.stdout
    final = stats(env)
    assert final["cases"] == final["images"] == final["predictions"] == 24


def test_bad_input_exits_2_with_one_line(cli_env, tmp_path):
    missing = run_db(cli_env, "import", tmp_path / "nope")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "is not a folder" in missing.stderr
    down = run_db(dict(cli_env, DATABASE_URL="postgresql+psycopg://cxr:pw@127.0.0.1:1/none"), "stats")
    assert down.returncode == 2 and down.stderr.startswith("error: cannot use the library at")
    assert "pw" not in down.stderr and "Traceback" not in down.stderr
    bad_zip = tmp_path / "x.zip"
    bad_zip.write_bytes(b"not a zip")
    refused = run_db(cli_env, "import-set", bad_zip)
    assert refused.returncode == 2 and "not a readable zip" in refused.stderr


def test_stats_json_keys_and_text(cli_env):
    assert set(stats(cli_env)) == {"cases", "images", "predictions", "reports", "teaching_sets"}
    done = run_db(cli_env, "stats")
    assert "cases: 0" in done.stdout and "teaching_sets: 0" in done.stdout


def test_bench_gallery_reports_query_times(tmp_path):
    from db.bench import run_bench

    report = run_bench(n_cases=500, repeats=2)
    assert report["cases"] == 500 and set(report["query_ms_median"]) >= {"first page, newest", "last page, newest"}
    assert all(ms > 0 for ms in report["query_ms_median"].values())


def test_import_with_segmenter_stores_limits_and_backfill_completes_older_rows(
    cli_env, kermany_test_dir, trained_weights_dir, limits_weights_dir, tmp_path
):
    """Predictions made before the segmenter get their figures from `python -m db limits`; the
    figures equal what the Analyze path computes for the same image."""
    from core.analysis import analyze_bytes
    from core.explain.limits import unpack_mask
    from core.model_service import ModelService

    folder = small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0)
    before = dict(cli_env, CXR_WEIGHTS_DIR=str(trained_weights_dir))  # same classifier, no segmenter
    assert run_db(before, "import", folder, "--quiet").returncode == 0
    refused = run_db(before, "limits", "--quiet")
    assert refused.returncode == 2 and "no lung segmenter" in refused.stderr
    after = dict(cli_env, CXR_WEIGHTS_DIR=str(limits_weights_dir))
    done = run_db(after, "limits", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": 4")
    assert run_db(after, "limits", "--quiet").stdout.strip().endswith(": 0")  # nothing left to do

    service = ModelService(limits_weights_dir)
    path = sorted((folder / "PNEUMONIA").iterdir())[0]
    single = analyze_bytes(service, path.read_bytes(), force=True, with_limits=True)
    engine = ensure_library(cli_env["DATABASE_URL"])
    with session_scope(engine) as s:
        case = s.scalars(__import__("sqlalchemy").select(repo.Case).where(repo.Case.title == path.stem)).one()
        pred = repo.case_prediction(s, case, service.version)
        stored = pred.limits
        assert stored["lung_share"] == pytest.approx(single.limits.metrics["lung_share"], abs=2e-3)
        assert stored["markers"] == single.limits.metrics["markers"]
        assert stored["counterfactual"]["p_outside_blanked"] == pytest.approx(
            single.limits.metrics["counterfactual"]["p_outside_blanked"], abs=2e-3
        )
        assert np.array_equal(unpack_mask(pred.lung_mask), single.limits.lung_mask)
        flags = s.execute(text("SELECT flag FROM prediction_flags WHERE prediction_id = :p"), {"p": pred.id}).scalars()
        assert sorted(flags) == sorted(stored["flags"])


def test_bench_import_times_cases_with_every_figure_against_the_forward_pass():
    """`python -m db bench-import` on the committed weights: a temporary library, every figure stored."""
    repo_root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-m", "db", "bench-import", "--cases", "4", "--batch-size", "2", "--json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["cases"], report["predictions"], report["refused"], report["backend"]) == (4, 4, 0, "sqlite")
    assert report["ms_per_case"] > 0 and report["p50_ms_forward"] > 0
    assert abs(report["ratio_import_per_case_vs_forward"] - report["ms_per_case"] / report["p50_ms_forward"]) < 0.01
    assert abs(report["cases_per_second"] - 4 / report["seconds"]) < 0.05 * report["cases_per_second"]
