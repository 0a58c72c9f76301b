"""Login, first-run setup, role refusal and a whole quiz as a student (Streamlit AppTest on a real SQLite library)."""

import pytest
from auth_support import TEST_PASSWORD, ensure_user, sign_in
from db_support import small_folder
from quiz_support import start_quiz
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash
from test_db_pages import fill, library_env, texts
from viewer_support import viewer_charts

from core.teaching.quiz_rules import brier, pneumonia_probability, score, streaks
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import Case, QuizAnswer, QuizAttempt
from db.operator import OPERATOR

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
INSTRUCTOR_PAGES = ["pages/case_gallery.py", "pages/users.py", "pages/dashboard.py"]


def app() -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    return AppTest.from_file("../Home.py", default_timeout=300)


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    return at.button(key="login_submit").click().run()


def test_scoring_figures():
    assert pneumonia_probability("PNEUMONIA", 0.8) == 0.8 and pneumonia_probability("NORMAL", 0.8) == pytest.approx(0.2)
    assert brier([0.9, 0.2, 0.4], ["PNEUMONIA", "NORMAL", "PNEUMONIA"]) == pytest.approx((0.01 + 0.04 + 0.36) / 3)
    assert brier([0.5] * 4, ["NORMAL", "PNEUMONIA"] * 2) == pytest.approx(0.25)
    assert streaks([True, True, False, True, True, True, False, True]) == (1, 3)
    with pytest.raises(ValueError):
        pneumonia_probability("NORMAL", 0.3)


def test_first_run_setup_creates_the_instructor_then_login_is_required(library_env, use_placeholder):
    at = app().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "First-run setup" and "brand-new install" in texts(at)
    at.text_input(key="setup_name").input("Boss")
    at.text_input(key="setup_password").input("long enough pw")
    at.text_input(key="setup_password_again").input("long enough pw")
    at.button(key="setup_submit").click().run()
    assert not at.exception, at.exception
    assert "Logged in as **boss**" in texts(at) and at.title[0].value == "CXR Teaching Lab"
    at.button(key="logout").click().run()
    assert at.title[0].value == "Log in"  # users exist now: no setup page any more
    assert log_in(at, "boss", "wrong password").error[0].value == "Wrong user name or password."
    log_in(at, "boss", "wrong again")
    assert "wait 5 s" in log_in(at, "boss", "third wrong").error[0].value
    assert "Too many failed logins" in log_in(at, "boss", "long enough pw").error[0].value  # locked: refused unchecked


@pytest.mark.parametrize("page", INSTRUCTOR_PAGES + ["pages/model_limits.py"])
def test_a_student_gets_nothing_from_pages_outside_their_role(
    library_env, use_placeholder, kermany_test_dir, tmp_path, page
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0))
    ensure_user("teacher", ["instructor"])
    student = ensure_user("sam", ["student"])
    # Through the router: the page is not in the student's navigation, so asking for it shows none of it.
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    assert "Logged in as **sam**" in texts(at)
    with pytest.raises(ValueError, match="Could not find a navigation page") as refused:
        at.switch_page(page)
    student_pages = ["welcome.py", "analyze.py", "explain.py", "quiz.py", "model_card.py", "account.py"]
    refused_at = ["case_gallery", "model_limits", "dashboard", "users"]  # hidden stand-ins at those addresses
    assert str(refused.value).endswith(str([str(REPO / "pages" / p) for p in student_pages] + refused_at) + ".")
    # Its address (typed, or a reload) is a hidden stand-in that says so plainly, not "Page not found".
    # AppTest.switch_page takes files only; a browser asks for a page by the hash of its url_path.
    at._page_hash = calc_hash(page.removeprefix("pages/").removesuffix(".py"))
    at.run()
    assert not at.exception, at.exception
    assert "your account (sam) does not have it" in at.error[0].value
    assert [t.value for t in at.title] == []
    # The page itself, run directly with the student's session (a typed URL or a replayed action): refused.
    direct = AppTest.from_file(f"../{page}", default_timeout=120)
    sign_in(direct, student)
    direct.run()
    assert not direct.exception, direct.exception
    assert "your account (sam) does not have it" in direct.error[0].value
    assert not direct.button and not direct.text_input and not direct.title
    anonymous = AppTest.from_file(f"../{page}", default_timeout=120).run()
    assert [t.value for t in anonymous.title] == ["Log in"] and [b.key for b in anonymous.button] == ["login_submit"]


def test_student_takes_a_whole_quiz_against_the_model(library_env, use_trained_weights, kermany_test_dir, tmp_path):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0), use_trained_weights)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        cases[0].notes = "Look behind the heart."
        chosen = [cases[0].id, cases[3].id, cases[1].id]
        week = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, week.id, chosen)
        teaching.publish_set(s, OPERATOR, week.id)
        truth = {c.id: c.truth_label for c in cases}
        titles = {c.id: c.title for c in cases}
    ensure_user("teacher", ["instructor"])
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    assert not at.exception, at.exception
    attempt = start_quiz(at, engine, week.id, "versus", 3)
    assert attempt.case_ids == chosen and attempt.mode == "versus" and attempt.attempts == 1

    plan = [
        (truth[chosen[0]], 90),
        (truth[chosen[1]], 80),
        ("NORMAL" if truth[chosen[2]] == "PNEUMONIA" else "PNEUMONIA", 60),
    ]  # two right, one wrong
    for position, (answer, confidence) in enumerate(plan):
        case_id = chosen[position]
        # Before answering: neither the page nor the session holds the truth, the title or the notes.
        shown = texts(at)
        [clickable] = at.get("component_instance")  # the image, in the click-to-mark component
        assert (
            f"Case {position + 1} of 3" in shown
            and not at.image
            and clickable.key == f"quiz_mark_{attempt.id}_{position}"
        )
        assert "NORMAL" not in shown and "PNEUMONIA" not in shown and titles[case_id] not in shown
        assert "behind the heart" not in shown
        state = repr(at.session_state.to_dict())
        assert "NORMAL" not in state and "PNEUMONIA" not in state and titles[case_id] not in state
        sent = str(clickable.proto)  # what the browser receives for the image: the pixels only
        assert "NORMAL" not in sent and "PNEUMONIA" not in sent and titles[case_id] not in sent
        at.radio(key=f"quiz_answer_{attempt.id}_{position}").set_value(answer)
        at.slider(key=f"quiz_conf_{attempt.id}_{position}").set_value(confidence)
        submit = at.button(key=f"quiz_submit_{attempt.id}_{position}")
        assert submit.proto.shortcut == "ctrl+enter"  # answering from the keyboard; Streamlit shows the key
        submit.click().run()
        assert not at.exception, at.exception
        shown = texts(at)
        assert f"the ground truth is **{truth[case_id]}**" in shown and "The model (" in shown
        assert at.button(key=f"quiz_next_{attempt.id}_{position}").proto.shortcut == "n"
        assert len(viewer_charts(at)) == 1 and len(at.image) == 1  # the viewer with the Grad-CAM, its colour bar
        if position == 0:
            assert "Look behind the heart." in shown
        at.button(key=f"quiz_next_{attempt.id}_{position}").click().run()

    assert "Quiz finished" in texts(at)
    with session_scope(engine) as s:
        answers = list(s.scalars(select(QuizAnswer).order_by(QuizAnswer.position)))
        attempt = s.get(QuizAttempt, attempt.id)
        assert attempt.finished_at is not None
    assert [(a.case_id, a.answer, a.confidence, a.correct) for a in answers] == [
        (chosen[0], plan[0][0], 0.9, True),
        (chosen[1], plan[1][0], 0.8, True),
        (chosen[2], plan[2][0], 0.6, False),
    ]
    assert all(a.model_label in ("NORMAL", "PNEUMONIA") and 0 <= a.model_probability <= 1 for a in answers)
    result = score(answers)
    assert (result.correct, result.answered) == (2, 3)
    assert result.brier == pytest.approx((0.1**2 + 0.2**2 + 0.6**2) / 3)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Your accuracy"] == "2/3" and metrics["Your Brier score"] == f"{result.brier:.3f}"
    assert metrics["Streak (best)"] == "0 (2)"  # right, right, wrong
    assert metrics["Model"] == f"{result.model_correct}/3"
    assert at.dataframe, "no history table"


def test_without_a_trained_model_diagnose_works_and_versus_is_refused(
    library_env, use_placeholder, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=1))  # one unlabelled case
    ensure_user("teacher", ["instructor"])
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    at.radio(key="quiz_mode").set_value("versus")
    at.button(key="quiz_start_btn").click().run()
    assert "needs a trained model" in at.error[0].value
    with session_scope(ensure_library(library_env)) as s:
        assert s.scalars(select(QuizAttempt)).first() is None
    attempt = start_quiz(at, ensure_library(library_env), mode="diagnose", length=10)
    assert attempt.attempts == 1
    with session_scope(ensure_library(library_env)) as s:
        labelled = {c.id for c in s.scalars(select(Case).where(Case.truth_label.is_not(None)))}
    assert sorted(attempt.case_ids) == sorted(labelled) and len(labelled) == 2  # random pick, labelled cases only
    at.radio(key=f"quiz_answer_{attempt.id}_0").set_value("NORMAL")
    at.button(key=f"quiz_submit_{attempt.id}_0").click().run()
    assert not at.exception, at.exception
    assert "No stored prediction" in texts(at)
    assert len(viewer_charts(at)) == 1 and not at.image  # the image alone: no map, so no colour bar


def test_instructor_adds_and_deactivates_a_user_in_the_app(library_env, use_placeholder):
    ensure_user("teacher", ["instructor"])
    at = log_in(app().run(), "teacher", TEST_PASSWORD)
    at.switch_page("pages/users.py").run()
    at.text_input(key="user_add_name").input("Newbie")
    at.text_input(key="user_add_password").input("first password")
    at.multiselect(key="user_add_roles").set_value(["student", "reviewer"])
    at.button(key="user_add_submit").click().run()
    assert not at.exception, at.exception
    assert "Added 'newbie'." in texts(at)
    at.button(key="user_toggle_newbie").click().run()
    from db.users import authenticate, find_user

    with session_scope(ensure_library(library_env)) as s:
        user = find_user(s, "newbie")
        assert not user.active and {r.role for r in user.roles} == {"student", "reviewer"}
        assert "deactivated" in authenticate(s, "newbie", "first password").message
