"""Issue 7's walkthrough on the committed model: an instructor publishes a set from the Case Gallery, a
student takes a quiz on it in each mode, and the instructor's dashboard shows the results.

Runs the real app script (AppTest) on a real SQLite library filled by the real import with the
committed classifier and lung segmenter. Skipped while either is missing.
"""

import csv
import io
from pathlib import Path

import pytest
from auth_support import TEST_PASSWORD, ensure_user
from db_support import small_folder
from quiz_support import start_quiz
from sqlalchemy import select
from test_db_pages import fill, library_env, texts
from test_quiz_and_roles import app, log_in
from test_quiz_review_dashboard import capture_downloads

from core.teaching.quiz_rules import MODES
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import Case, Prediction, QuizAnswer, QuizAttempt

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
pytestmark = pytest.mark.skipif(
    not ((WEIGHTS / "classifier.safetensors").is_file() and (WEIGHTS / "lungs.safetensors").is_file()),
    reason="needs the committed classifier and lung segmenter",
)


def take_quiz(at, engine, set_id: int, mode: str, answer_for) -> int:
    at.switch_page("pages/quiz.py").run()
    if any(b.key == "quiz_again" for b in at.button):  # the previous quiz's result page
        at.button(key="quiz_again").click().run()
    attempt = start_quiz(at, engine, set_id, mode, 4)
    attempt_id, cases = attempt.id, attempt.case_ids
    for position, case_id in enumerate(cases):
        answer = "A" if mode == "trust" else answer_for(case_id)  # the trust quiz asks for a map, A to C
        at.radio(key=f"quiz_answer_{attempt_id}_{position}").set_value(answer)
        at.button(key=f"quiz_submit_{attempt_id}_{position}").click().run()
        assert not at.exception, at.exception
        at.button(key=f"quiz_next_{attempt_id}_{position}").click().run()
    assert "Quiz finished" in texts(at)
    return attempt_id


def test_publish_quiz_in_every_mode_and_see_the_dashboard(library_env, kermany_test_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(WEIGHTS))
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=3, loose=0), WEIGHTS)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        assert s.scalar(select(Prediction).where(Prediction.lung_share.is_(None))) is None  # figures at import
    ensure_user("teacher", ["instructor"])
    ensure_user("sam", ["student"])

    # The instructor builds and publishes a set in the Case Gallery.
    teacher = log_in(app().run(), "teacher", TEST_PASSWORD)
    teacher.switch_page("pages/case_gallery.py").run()
    teacher.radio(key="gallery_view").set_value("Teaching sets").run()
    teacher.text_input(key="ts_new_name").set_value("Week 1").run()
    teacher.button(key="ts_create").click().run()
    teacher.radio(key="gallery_view").set_value("Cases").run()
    for key in [c.key for c in teacher.checkbox if c.key and c.key.startswith("pick_")][:4]:
        teacher.checkbox(key=key).check()
    teacher.run()
    teacher.button(key="grid_add_btn").click().run()
    with session_scope(engine) as s:
        [week] = teaching.list_sets(s)
        truth = {c: s.get(Case, c).truth_label for c in teaching.set_case_ids(s, week.id)}
    teacher.radio(key="gallery_view").set_value("Teaching sets").run()
    teacher.button(key=f"ts_publish_{week.id}").click().run()
    assert not teacher.exception, teacher.exception

    # The student: one quiz per mode, right on the reading modes except one case.
    student = log_in(app().run(), "sam", TEST_PASSWORD)
    first = sorted(truth)[0]
    flip = {"NORMAL": "PNEUMONIA", "PNEUMONIA": "NORMAL"}
    attempts = {
        mode: take_quiz(
            student,
            engine,
            week.id,
            mode,
            (lambda c: "lungs") if mode == "shortcut" else (lambda c: flip[truth[c]] if c == first else truth[c]),
        )
        for mode in MODES
    }
    with session_scope(engine) as s:
        answers = list(s.scalars(select(QuizAnswer)))
    assert len(answers) == 4 * len(MODES)
    reading = [a for a in answers if a.attempt_id not in (attempts["shortcut"], attempts["trust"])]
    assert sum(a.correct for a in reading) == len(reading) - 2
    assert all(a.expected for a in answers if a.attempt_id in (attempts["shortcut"], attempts["trust"]))

    # The instructor's dashboard shows it, and the CSV has every answer.
    downloads = capture_downloads(monkeypatch)
    teacher = log_in(app().run(), "teacher", TEST_PASSWORD)
    teacher.switch_page("pages/dashboard.py").run()
    assert not teacher.exception, teacher.exception
    assert [b.key for b in teacher.button if b.key.startswith("dash_open_")][0] == f"dash_open_{first}"  # hardest
    [table] = [d.value for d in teacher.dataframe if "cases from" in d.value.columns]
    row = table.set_index("cases from").loc["Week 1"]
    assert row["answers"] == 8 and row["student accuracy"] == 0.75
    parsed = list(csv.DictReader(io.StringIO(downloads[-1].decode())))
    assert len(parsed) == 4 * len(MODES) and {p["mode"] for p in parsed} == set(MODES)
