"""Click-to-mark, the reveal's report and notes, streaks across quizzes, spaced repetition, and the
instructor dashboard with its CSV export (Streamlit AppTest on a real SQLite library)."""

import base64
import csv
import io
import json
import random
from datetime import UTC, datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest
from auth_support import TEST_PASSWORD, ensure_user, sign_in
from db_support import library, library_url, pg_server, small_folder
from quiz_support import start_quiz
from sqlalchemy import select
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from test_db_pages import fill, library_env, texts
from test_quiz_and_roles import app, log_in
from viewer_support import viewer_charts

from core.explain.gradcam import upsample
from core.formatting import percent
from core.reports import ReportRecord
from core.reports.content import SECTION_KEYS
from core.services import quiz
from core.services.report_store import SqlReportStore
from core.teaching.class_stats import CSV_COLUMNS, per_case, per_source, to_csv
from core.teaching.click_marks import HOT, cam_value_at, draw_mark, mark_view, pixel_of, to_fractions
from core.teaching.quiz_rules import MODES, Review, due_for_review, review_schedule
from core.vocabulary import QUIZ_MODES
from db import teaching
from db.codec import pack_cam
from db.engine import ensure_library, session_scope
from db.models import Case, Prediction, QuizAnswer, QuizAttempt, User
from db.operator import OPERATOR
from db.repository import prediction_cam

SHOWN = 448  # the quiz shows the 224 px images at this width


def offline_record(image_id: str, model_version: str, content: dict, **extra) -> ReportRecord:
    """A stored offline-template report in English, as the report panel saves one."""
    return ReportRecord(
        image_id=image_id,
        model_version=model_version,
        prompt_version="p1",
        llm_model="offline-template",
        language="en",
        source="offline",
        guard_passed=True,
        guard_reasons=(),
        content=content,
        **extra,
    )


# ---------- pure parts -----------------------------------------------------------------------------


def test_leitner_schedule_intervals_and_retirement():
    first = [(0, 5, False), (0, 6, True)]  # quiz 0: case 5 missed, case 6 right (never under review)
    assert review_schedule(first) == {5: Review(5, 0, 1)}
    assert due_for_review(review_schedule(first), 1) == [5]  # the next quiz
    once = first + [(1, 5, True)]
    assert review_schedule(once)[5].due_at == 3  # right once: two quizzes later
    assert due_for_review(review_schedule(once), 2) == [] and due_for_review(review_schedule(once), 3) == [5]
    twice = once + [(3, 5, True)]
    assert review_schedule(twice)[5] == Review(5, 2, 7)  # then four quizzes later
    assert review_schedule(twice + [(7, 5, True)]) == {}  # three right in a row: retired
    assert review_schedule(once + [(3, 5, False)])[5] == Review(5, 0, 4)  # a new miss starts again
    assert due_for_review(review_schedule([(0, 9, False), (2, 3, False)]), 5) == [9, 3]  # longest overdue first


def test_every_stored_mode_is_described():
    assert set(MODES) == set(QUIZ_MODES)


def test_mark_fractions_cam_value_and_drawing():
    assert to_fractions(448, 0, 448, 448) == (1.0, 0.0) and to_fractions(-3, 224, 448, 448) == (0.0, 0.5)
    cam = np.zeros((7, 7), np.float32)
    cam[1, 5] = 1.0
    heat = upsample(cam, 224, 224)
    row, col = np.unravel_index(heat.argmax(), heat.shape)
    hot = ((col + 0.5) / 224, (row + 0.5) / 224)
    assert cam_value_at(cam, hot, (224, 224)) == pytest.approx(float(heat.max())) and heat.max() >= HOT
    assert cam_value_at(cam, (0.05, 0.95), (224, 224)) == 0.0  # the opposite corner
    drawn = draw_mark(np.zeros((100, 100), np.uint8), (0.5, 0.5))
    assert drawn.shape == (100, 100, 3) and drawn.max() == 255
    lit = np.argwhere(drawn.max(axis=2) > 0)
    assert np.abs(lit - 50).max() <= 9 and not drawn[50, 50].any()  # a ring and cross-hair around the point


def test_a_click_on_a_zoomed_area_marks_the_pixel_it_lands_on():
    whole = mark_view((224, 224))
    assert (whole.top, whole.left, whole.height, whole.width) == (0, 0, 224, 224)
    assert whole.to_image((0.3, 0.7)) == (0.3, 0.7) and whole.to_shown((0.3, 0.7)) == (0.3, 0.7)
    middle = mark_view((224, 224), 2)
    assert (middle.top, middle.left, middle.height, middle.width) == (56, 56, 112, 112)
    assert middle.to_image((0.0, 0.0)) == (0.25, 0.25) and middle.to_image((1.0, 1.0)) == (0.75, 0.75)
    # An area asked for past an edge stays inside the image.
    corner = mark_view((224, 224), 4, (1.0, 0.0))
    assert (corner.top, corner.left, corner.height, corner.width) == (0, 168, 56, 56)
    image = np.arange(224 * 224).reshape(224, 224)
    for view in (whole, middle, corner, mark_view((224, 224), 3, (0.3, 0.6)), mark_view((180, 240), 3, (0.9, 0.1))):
        crop = view.crop(image if view.shape == (224, 224) else np.arange(180 * 240).reshape(180, 240))
        assert crop.shape == (view.height, view.width)
        # The surface shows the area 448 px wide: a click in the middle of each shown pixel's square marks that
        # pixel of the whole image, the one the crop showed there.
        scale = 448 / view.width
        for r, c in ((0, 0), (view.height - 1, view.width - 1), (view.height // 2, view.width // 3)):
            shown = to_fractions((c + 0.5) * scale, (r + 0.5) * scale, 448, view.height * scale)
            mark = view.to_image(shown)
            assert pixel_of(mark, view.shape) == (view.top + r, view.left + c)
            assert view.to_shown(mark) == pytest.approx(shown)  # and back, to draw it on the surface
    assert middle.to_shown((0.1, 0.5)) is None  # left of the area: not drawn there
    with pytest.raises(ValueError):
        mark_view((224, 224), 0.5)


def _row(user, attempt, case, answer, truth, confidence=0.8, model=None, prob=None, source="Week 1"):
    return SimpleNamespace(
        user=user,
        attempt_id=attempt,
        mode="diagnose",
        source=source,
        set_id=1,
        started_at=datetime(2026, 1, attempt, tzinfo=UTC),
        position=0,
        case_id=case,
        case_title=f"case {case}",
        answer=answer,
        confidence=confidence,
        truth_label=truth,
        correct=answer == truth,
        model_label=model,
        model_probability=prob,
        model_version="v1",
        mark_x=None,
        mark_y=None,
        answered_at=datetime(2026, 1, attempt, 1, tzinfo=UTC),
    )


def test_class_figures_per_case_and_per_set():
    rows = [
        _row("amy", 1, 10, "NORMAL", "NORMAL", model="NORMAL", prob=0.2),
        _row("amy", 1, 11, "NORMAL", "PNEUMONIA", model="PNEUMONIA", prob=0.9),
        _row("bob", 2, 10, "PNEUMONIA", "NORMAL", model="NORMAL", prob=0.2),
        _row("bob", 2, 11, "NORMAL", "PNEUMONIA", model="PNEUMONIA", prob=0.9),
        _row("bob", 3, 12, "PNEUMONIA", "PNEUMONIA", source="random from the library"),
    ]
    cases = per_case(rows)
    assert [(c.case_id, c.answers, c.students_right, c.model_right) for c in cases] == [
        (11, 2, 0, True),
        (10, 2, 1, True),
        (12, 1, 1, None),
    ]
    week, rand = per_source(rows)
    assert (week.source, week.students, week.answers, week.student_accuracy) == ("Week 1", 2, 4, 0.25)
    assert (week.model_answers, week.model_accuracy, week.agreement) == (4, 1.0, 0.25)
    assert (rand.model_answers, rand.model_accuracy, rand.agreement) == (0, None, None)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert tuple(parsed[0]) == CSV_COLUMNS and len(parsed) == 5
    assert parsed[4]["model_label"] == "" and parsed[0]["answered_at"] == "2026-01-01T01:00:00+00:00"


# ---------- spaced repetition in the library ---------------------------------------------------------


@pytest.fixture
def four_cases(library_env, use_placeholder, kermany_test_dir, tmp_path):
    """Four labelled cases; a published set of the first three (A, B, C); E is the fourth."""
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0))
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        week = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, week.id, [c.id for c in cases[:3]])
        teaching.publish_set(s, OPERATOR, week.id)
        truth = {c.id: c.truth_label for c in cases}
        ids, set_id = [c.id for c in cases], week.id
    return engine, ids, truth, set_id


def _take(engine, user_id, set_id, length, answers: dict | None = None, rng=None) -> tuple[int, list[int]]:
    """Start a quiz and answer it: `answers` maps case id → right (True) / wrong (False); missing = unanswered."""
    with session_scope(engine) as s:
        attempt = quiz.start_attempt(s, user_id, "diagnose", length, set_id=set_id, rng=rng)
        attempt_id, chosen = attempt.id, list(attempt.case_ids)
    with session_scope(engine) as s:
        truth = {c.id: c.truth_label for c in s.scalars(select(Case))}
    for position, case_id in enumerate(chosen):
        if answers is None or case_id not in answers:
            break
        right = answers[case_id]
        said = truth[case_id] if right else ("NORMAL" if truth[case_id] == "PNEUMONIA" else "PNEUMONIA")
        with session_scope(engine) as s:
            quiz.record_answer(s, attempt_id, user_id, position, said, 0.8)
    return attempt_id, chosen


def test_missed_cases_come_back_on_the_leitner_schedule(four_cases):
    engine, (a, b, c, e), truth, set_id = four_cases
    sam = ensure_user("sam", ["student"])
    everything_right = {a: True, b: True, c: True, e: True}
    assert _take(engine, sam, set_id, 3, {a: True, b: True, c: False})[1] == [a, b, c]  # quiz 0: C missed
    first_review, chosen = _take(engine, sam, set_id, 1, everything_right)
    assert chosen == [c]  # quiz 1: C is due (without review the set's first case, A, would come)
    with session_scope(engine) as s:
        assert quiz.review_cases(s, first_review, sam) == [c]
    assert _take(engine, sam, set_id, 1, everything_right)[1] == [a]  # quiz 2: C waits (right once → 2 quizzes)
    assert _take(engine, sam, set_id, 1, everything_right)[1] == [c]  # quiz 3: due again; right twice → 4 quizzes
    for _ in range(3):  # quizzes 4, 5, 6
        assert _take(engine, sam, set_id, 1, everything_right)[1] == [a]
    assert _take(engine, sam, set_id, 1, everything_right)[1] == [c]  # quiz 7; right three times → retired
    assert _take(engine, sam, set_id, 1, everything_right)[1] == [a]
    with session_scope(engine) as s:
        assert quiz.review_due(s, sam) == []
    # Another student's misses are theirs alone.
    kim = ensure_user("kim", ["student"])
    assert _take(engine, kim, set_id, 1, everything_right)[1] == [a]


def test_a_set_quiz_takes_only_its_own_due_cases_and_a_random_quiz_takes_any(four_cases):
    engine, (a, b, c, e), truth, set_id = four_cases
    sam = ensure_user("sam", ["student"])
    _, chosen = _take(engine, sam, None, 4, {a: True, b: True, c: True, e: False}, rng=random.Random(0))
    assert sorted(chosen) == sorted([a, b, c, e])
    assert _take(engine, sam, set_id, 1)[1] == [a]  # E is due but not in the set
    for seed in range(5):  # unanswered, E stays due: every random one-case quiz brings it back
        assert _take(engine, sam, None, 1, rng=random.Random(seed))[1] == [e]
    _, chosen = _take(engine, sam, None, 3, rng=random.Random(1))
    assert e in chosen and len(set(chosen)) == 3


# ---------- the quiz page ----------------------------------------------------------------------------


def _click(at: AppTest, key: str, row: float, col: float, stamp: int) -> None:
    """What the click-to-mark component sends for a click at display pixel (2·col + 1, 2·row + 1) of its 448 px
    surface: over pixel (row, col) when it shows a 224 px image whole."""
    at.session_state[key] = {"x": 2 * col + 1, "y": 2 * row + 1, "width": SHOWN, "height": SHOWN, "unix_time": stamp}


def _assert_nothing_reveals(at: AppTest, truth_words=("NORMAL", "PNEUMONIA"), secrets=()) -> None:
    shown, state = texts(at), repr(at.session_state.to_dict())
    sent = "".join(str(e.proto) for e in at.get("component_instance"))
    for word in (*truth_words, *secrets):
        assert word not in shown and word not in state and word not in sent, word


def test_whole_quiz_with_marks_reveals_report_notes_and_hot_region(
    library_env, use_trained_weights, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0), use_trained_weights)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))[:3]
        cases[0].notes = "Look behind the heart."
        week = teaching.create_set(s, OPERATOR, "Week 2")
        teaching.add_to_set(s, OPERATOR, week.id, [c.id for c in cases])
        teaching.publish_set(s, OPERATOR, week.id)
        chosen = [c.id for c in cases]
        truth = {c.id: c.truth_label for c in cases}
        sha = {c.id: c.image.sha256 for c in cases}
        shape = {c.id: (c.image.height, c.image.width) for c in cases}
        preds = {c.id: s.scalars(select(Prediction).where(Prediction.image_id == c.image_id)).one() for c in cases}
        # The random test weights give flat maps; store one hot spot (upper right of the image) as a trained model might.
        spot = np.zeros((7, 7), np.float32)
        spot[2, 5] = 1.0
        for p in preds.values():
            p.cam, p.cam_height, p.cam_width = pack_cam(spot), 7, 7
        cams = {k: prediction_cam(p) for k, p in preds.items()}
        labels = {k: p.label for k, p in preds.items()}
        version = preds[chosen[0]].model_version
    sections = {k: f"Template text for {k}." for k in SECTION_KEYS} | {"summary": "STORED-SUMMARY of case one."}
    SqlReportStore(engine, OPERATOR).add(
        offline_record(sha[chosen[0]], version, {"sections": sections, "source_reason": "no key"})
    )
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    started = start_quiz(at, engine, week.id, "diagnose", 3)
    assert started.attempts == 1
    attempt_id = started.id

    # Case 1: zoomed 2× on the upper right, a click on the hottest pixel of the model's map.
    heat = upsample(cams[chosen[0]], *shape[chosen[0]])
    hot_row, hot_col = np.unravel_index(heat.argmax(), heat.shape)
    view = f"quiz_view_{attempt_id}_0"
    whole_surface = str(at.get("component_instance")[0].proto)
    at.selectbox(key=f"{view}_mark_zoom").set_value(2).run()
    at.slider(key=f"{view}_mark_across").set_value(75)
    at.slider(key=f"{view}_mark_down").set_value(25).run()
    assert str(at.get("component_instance")[0].proto) != whole_surface  # the surface shows the area now
    area = mark_view(shape[chosen[0]], 2, (0.75, 0.25))
    assert (area.top, area.left) == (0, 112) and area.top <= hot_row < 112 and hot_col >= 112
    _click(at, f"quiz_mark_{attempt_id}_0", (hot_row - area.top) * 2 + 0.5, (hot_col - area.left) * 2 + 0.5, stamp=1)
    at.run()
    assert "Your mark:" in texts(at) and at.button(key=f"quiz_mark_{attempt_id}_0_remove")
    at.button(key=f"{view}_reset").click().run()  # Reset view zooms out; the mark stays where it was put
    assert (
        at.selectbox(key=f"{view}_mark_zoom").value == 1 and str(at.get("component_instance")[0].proto) != whole_surface
    )
    _assert_nothing_reveals(at, secrets=("Look behind the heart", "STORED-SUMMARY", cases[0].title))
    at.radio(key=f"quiz_answer_{attempt_id}_0").set_value(truth[chosen[0]])
    at.button(key=f"quiz_submit_{attempt_id}_0").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert f"the ground truth is **{truth[chosen[0]]}**" in shown and f"said **{labels[chosen[0]]}**" in shown
    assert "Look behind the heart." in shown and "STORED-SUMMARY of case one." in shown
    assert "Your mark is in a hot region" in shown
    assert len(viewer_charts(at)) == 1 and len(at.image) == 1  # the viewer (overlay with the mark), its colour bar
    at.button(key=f"quiz_next_{attempt_id}_0").click().run()

    # Case 2: a click on the coldest pixel.
    heat = upsample(cams[chosen[1]], *shape[chosen[1]])
    cold_row, cold_col = np.unravel_index(heat.argmin(), heat.shape)
    assert heat.min() < HOT
    _click(at, f"quiz_mark_{attempt_id}_1", cold_row, cold_col, stamp=2)
    at.radio(key=f"quiz_answer_{attempt_id}_1").set_value("NORMAL")
    at.button(key=f"quiz_submit_{attempt_id}_1").click().run()
    shown = texts(at)
    assert (
        "outside the model's hot regions" in shown
        and f"{cam_value_at(cams[chosen[1]], ((cold_col + 0.5) / 224, (cold_row + 0.5) / 224), shape[chosen[1]]):.2f}"
        in shown
    )
    assert "No report is stored for this case yet." in shown and "No instructor's notes" in shown
    at.button(key=f"quiz_next_{attempt_id}_1").click().run()

    # Case 3: a mark, then removed before answering.
    _click(at, f"quiz_mark_{attempt_id}_2", 10, 10, stamp=3)
    at.run()
    at.button(key=f"quiz_mark_{attempt_id}_2_remove").click().run()
    assert "Your mark:" not in texts(at)
    at.radio(key=f"quiz_answer_{attempt_id}_2").set_value("PNEUMONIA")
    at.button(key=f"quiz_submit_{attempt_id}_2").click().run()
    assert "You did not mark a finding on this case." in texts(at)

    with session_scope(engine) as s:
        marks = [(a.mark_x, a.mark_y) for a in s.scalars(select(QuizAnswer).order_by(QuizAnswer.position))]
    assert marks[0] == pytest.approx(((2 * hot_col + 1) / SHOWN, (2 * hot_row + 1) / SHOWN))
    assert marks[1] == pytest.approx(((2 * cold_col + 1) / SHOWN, (2 * cold_row + 1) / SHOWN))
    assert marks[2] == (None, None)


def test_streak_runs_across_quizzes_and_a_missed_case_comes_back(four_cases):
    engine, (a, b, c, e), truth, set_id = four_cases
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()

    def start(length: int) -> int:
        return start_quiz(at, engine, set_id, length=length).id

    def answer(attempt_id: int, position: int, case_id: int, right: bool) -> None:
        said = truth[case_id] if right else ("NORMAL" if truth[case_id] == "PNEUMONIA" else "PNEUMONIA")
        at.radio(key=f"quiz_answer_{attempt_id}_{position}").set_value(said)
        at.button(key=f"quiz_submit_{attempt_id}_{position}").click().run()
        at.button(key=f"quiz_next_{attempt_id}_{position}").click().run()

    first = start(3)
    for position, (case_id, right) in enumerate([(a, True), (b, False), (c, True)]):
        answer(first, position, case_id, right)
    assert "Quiz finished" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Streak (best)"], metrics["Cases under review"]) == ("1 (1)", "1")
    at.button(key="quiz_again").click().run()

    second = start(1)
    with session_scope(engine) as s:
        assert s.get(QuizAttempt, second).case_ids == [b]  # the missed case, not the set's first
    assert "1 case(s) you missed before are back for review" in texts(at)
    _assert_nothing_reveals(at)
    answer(second, 0, b, True)
    metrics = {m.label: m.value for m in at.metric}
    # Right, wrong, right | right: the streak carries over from the first quiz (within the second it is 1).
    assert metrics["Streak (best)"] == "2 (2)"
    assert metrics["Cases under review"] == "1"  # B was right once: it comes back after two more quizzes
    with session_scope(engine) as s:
        assert quiz.review_due(s, s.get(QuizAttempt, second).user_id) == []  # ... so not in the next one


# ---------- the instructor dashboard ------------------------------------------------------------------


@pytest.fixture
def class_results(library_env, use_trained_weights, kermany_test_dir, tmp_path):
    """Two students' quizzes on a published set of three cases (and one random quiz), stored through core.services.quiz."""
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0), use_trained_weights)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        version = s.scalars(select(Prediction.model_version)).first()
        week = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, week.id, [x.id for x in cases[:3]])
        teaching.publish_set(s, OPERATOR, week.id)
        truth = {x.id: x.truth_label for x in cases}
    a, b, c = (x.id for x in cases[:3])
    ensure_user("teacher", ["instructor"])
    sam, kim = ensure_user("sam", ["student"]), ensure_user("kim", ["student"])

    def wrong(case_id):
        return "NORMAL" if truth[case_id] == "PNEUMONIA" else "PNEUMONIA"

    plan = {
        sam: [(truth[a], 0.9, (0.25, 0.5)), (wrong(b), 0.6, None), (truth[c], 0.8, None)],
        kim: [(wrong(a), 0.7, None), (wrong(b), 0.55, None), (truth[c], 1.0, None)],
    }
    for user_id, answers in plan.items():
        with session_scope(engine) as s:
            attempt_id = quiz.start_attempt(s, user_id, "versus", 3, set_id=week.id, model_version=version).id
        for position, (said, confidence, mark) in enumerate(answers):
            with session_scope(engine) as s:
                quiz.record_answer(s, attempt_id, user_id, position, said, confidence, mark=mark)
    with session_scope(engine) as s:  # kim's random one-case quiz: her longest-due miss, A, comes back
        attempt = quiz.start_attempt(s, kim, "diagnose", 1, model_version=version, rng=random.Random(0))
        assert attempt.case_ids == [a]
        attempt_id = attempt.id
    with session_scope(engine) as s:
        quiz.record_answer(s, attempt_id, kim, 0, truth[a], 0.8)
    return engine, (a, b, c), {"sam": sam, "kim": kim}


def _plotly_array(values):
    """Plotly sends numeric arrays as base64 typed arrays."""
    if isinstance(values, dict):
        return list(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]))
    return list(values)


def capture_downloads(monkeypatch) -> list[bytes]:
    """Everything the app offers through st.download_button from now on, in order."""
    downloads: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        if kind.name == "DOWNLOADABLE":
            downloads.append(path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode())
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return downloads


def _open_dashboard(monkeypatch) -> tuple[AppTest, list[bytes]]:
    downloads = capture_downloads(monkeypatch)
    at = log_in(app().run(), "teacher", TEST_PASSWORD)
    at.switch_page("pages/dashboard.py").run()
    assert not at.exception, at.exception
    return at, downloads


def test_dashboard_per_case_per_set_and_csv(class_results, monkeypatch):
    engine, (a, b, c), users = class_results
    at, downloads = _open_dashboard(monkeypatch)
    assert at.title[0].value == "Class dashboard"
    # Per case, hardest first: B (0 of 2 right), A (2 of 3), C (2 of 2); one click opens a case.
    assert [x.key for x in at.button if x.key.startswith("dash_open_")] == [
        f"dash_open_{b}",
        f"dash_open_{a}",
        f"dash_open_{c}",
    ]
    shown = texts(at)
    assert "0% (0/2)" in shown and "67% (2/3)" in shown and "100% (2/2)" in shown
    with session_scope(engine) as s:
        answers = list(s.scalars(select(QuizAnswer).order_by(QuizAnswer.answered_at, QuizAnswer.id)))
        attempts = {x.id: x for x in s.scalars(select(QuizAttempt))}
        names = {u.id: u.name for u in s.scalars(select(User))}
        hashes = [u.password_hash for u in s.scalars(select(User))]
        rows = [
            (
                names[attempts[x.attempt_id].user_id],
                x.case_id,
                x.answer,
                x.confidence,
                x.correct,
                x.model_label,
                x.model_probability,
                x.answered_at.replace(tzinfo=UTC, microsecond=0),
                x.mark_x,
            )
            for x in answers
        ]
    truth_of = {x.case_id: x.truth_label for x in answers}
    model_b = next(r for r in rows if r[1] == b)
    verdict = "right" if model_b[5] == truth_of[b] else "wrong"
    assert f"{model_b[5]} (P(pneumonia) {percent(model_b[6])}) · {verdict}" in shown

    # Per teaching set: figures from the stored answers.
    week = [r for x, r in zip(answers, rows) if attempts[x.attempt_id].set_id is not None]
    [table] = [d.value for d in at.dataframe if "cases from" in d.value.columns]
    table = table.set_index("cases from")
    assert table.loc["Week 1", "student accuracy"] == pytest.approx(sum(r[4] for r in week) / len(week)) == 0.5
    assert table.loc["Week 1", "model accuracy"] == pytest.approx(sum(r[5] == truth_of[r[1]] for r in week) / len(week))
    assert table.loc["Week 1", "human–model agreement"] == pytest.approx(sum(r[5] == r[2] for r in week) / len(week))
    assert table.loc["Week 1", "students"] == 2 and table.loc["random from the library", "answers"] == 1

    # The CSV holds every answer, with names, cases, answers, the model, times — and no password hashes.
    assert at.get("download_button") and len(downloads) >= 1
    text = downloads[-1].decode()
    assert not any(h in text for h in hashes) and "argon2" not in text and "password" not in text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [
        (
            p["user"],
            int(p["case_id"]),
            p["answer"],
            float(p["confidence"]),
            p["correct"] == "True",
            p["model_label"] or None,
            float(p["model_probability"]) if p["model_probability"] else None,
            datetime.fromisoformat(p["answered_at"]),
            float(p["mark_x"]) if p["mark_x"] else None,
        )
        for p in parsed
    ] == rows
    assert len(parsed) == 7 and {p["user"] for p in parsed} == {"sam", "kim"}

    # Per student: accuracy per quiz over time, one line each (kim took two quizzes).
    charts = [json.loads(x.proto.spec) for x in at.get("plotly_chart")]
    [progress] = [c for c in charts if c["layout"].get("title", {}).get("text") == "Accuracy per quiz"]
    lines = {t["name"]: _plotly_array(t["y"]) for t in progress["data"]}
    assert len(charts) == 4 and lines["sam"] == pytest.approx([2 / 3]) and lines["kim"] == pytest.approx([1 / 3, 1.0])

    at.button(key=f"dash_open_{b}").click().run()
    assert not at.exception, at.exception
    assert any(str(h.value).startswith(f"Case #{b}:") for h in at.subheader)  # the Case Gallery, on that case


def test_a_student_replaying_dashboard_actions_gets_nothing(class_results, monkeypatch):
    engine, (a, b, c), users = class_results
    # Through the router: the instructor's page, then the session turns into the student's and replays a click.
    at, _ = _open_dashboard(monkeypatch)
    sign_in(at, users["sam"])
    at.button(key=f"dash_open_{b}").click().run()
    assert not at.exception, at.exception
    assert "gallery_case" not in at.session_state and not at.get("download_button")
    assert "Class dashboard" not in [t.value for t in at.title]
    # The page itself, run directly (a typed URL): loaded as an instructor, replayed as the student.
    direct = AppTest.from_file("../pages/dashboard.py", default_timeout=120)
    sign_in(direct, ensure_user("teacher", ["instructor"]))
    direct.run()
    assert direct.button(key=f"dash_open_{b}")
    sign_in(direct, users["sam"])
    direct.button(key=f"dash_open_{b}").click().run()
    assert "your account (sam) does not have it" in direct.error[0].value
    assert "gallery_case" not in direct.session_state and not direct.get("download_button") and not direct.dataframe
    assert not direct.get("plotly_chart") and "0% (0/2)" not in texts(direct)


def test_latest_report_for_a_case_prefers_the_quiz_model(library):
    from db import repository as repo
    from db.codec import encode_image

    gray = np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8)
    encoded = encode_image(gray)
    with session_scope(library) as s:
        image, _ = repo.add_image(s, encoded, "PNG")
        case_id = repo.add_case(s, image, "a case", "test")[0].id
    store = SqlReportStore(library, OPERATOR)
    assert store.latest_for_case(case_id) is None

    def add(model_version, summary, when):
        store.add(
            offline_record(
                encoded.sha256,
                model_version,
                {"sections": {"summary": summary}},
                created_at=datetime(2026, 1, when, tzinfo=UTC),
            )
        )

    add("m1", "old, model one", 1)
    add("m2", "newer, model two", 2)
    assert store.latest_for_case(case_id).content["sections"]["summary"] == "newer, model two"
    assert store.latest_for_case(case_id, prefer_model_version="m1").content["sections"]["summary"] == "old, model one"
    assert store.latest_for_case(case_id, prefer_model_version="m9").model_version == "m2"  # none for it: the newest
