""" "Spot the shortcut": scored against flags and reviewers' word, the answer hidden until answered."""

import pytest
from auth_support import TEST_PASSWORD, ensure_user
from limits_support import add_limits_case
from quiz_support import start_quiz
from sqlalchemy import select
from test_db_pages import library_env, texts
from test_quiz_and_roles import app, log_in

from core.teaching.quiz_rules import MODES, score
from core.teaching.shortcut import BORDER, CHOICES, LUNGS, MARKER, OUTSIDE, shortcut_truth
from db import limits as limits_db
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import QuizAnswer, QuizAttempt
from db.operator import OPERATOR


def test_truth_follows_flags_rejections_and_tags():
    assert shortcut_truth([]).answer_set == {LUNGS}
    assert shortcut_truth(["heatmap_on_marker"]).answer_set == {MARKER}
    assert shortcut_truth(["marker_dependent", "heatmap_on_border"]).answer_set == {MARKER, BORDER}
    rejected = shortcut_truth(["heatmap_on_border"], rejected=["heatmap_on_border"])
    assert rejected.answer_set == {LUNGS} and "rejected by a reviewer" in rejected.basis
    tagged = shortcut_truth([], tags=["heart"])
    assert tagged.is_correct(OUTSIDE) and not tagged.is_correct(LUNGS)
    with pytest.raises(ValueError):
        tagged.is_correct("NORMAL")
    # One rule for "mainly on the lungs": no flag is not enough when half or less of the map is on them.
    assert shortcut_truth([], lung_share=0.51).answer_set == {LUNGS}
    elsewhere = shortcut_truth([], lung_share=0.30)
    assert elsewhere.answer_set == {OUTSIDE} and "30%" in elsewhere.basis and not elsewhere.is_correct(LUNGS)
    assert shortcut_truth([], lung_share=0.50).answer_set == {OUTSIDE}
    assert shortcut_truth(["heatmap_on_marker"], lung_share=0.2).answer_set == {MARKER}


def test_confidence_brier_scores_non_class_answers():
    class A:
        def __init__(self, correct, confidence):
            self.correct, self.confidence, self.answer, self.truth_label = correct, confidence, "lungs", "lungs"
            self.model_label = self.model_probability = None

    s = score([A(True, 1.0), A(False, 0.5)])
    assert s.brier == pytest.approx((0 + 0.25) / 2) and s.model_answered == 0
    assert not MODES["shortcut"].reading and MODES["shortcut"].needs_limits


def test_whole_shortcut_quiz_in_the_app(library_env, use_trained_weights):
    from core.model_service import ModelService

    version = ModelService(use_trained_weights).version
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        marker_case = add_limits_case(
            s, version, 1, "PNEUMONIA", "PNEUMONIA", 0.3, ["heatmap_on_marker"], marker_delta=-0.2
        )
        border_case = add_limits_case(s, version, 2, "NORMAL", "PNEUMONIA", 0.2, ["heatmap_on_border"])
        clean_case = add_limits_case(s, version, 3, "NORMAL", "NORMAL", 0.9)
        no_limits = add_limits_case(s, version, 4, "NORMAL", "NORMAL", 0.9, with_limits=False)
        week = teaching.create_set(s, OPERATOR, "Shortcuts")
        teaching.add_to_set(s, OPERATOR, week.id, [marker_case, border_case, clean_case, no_limits])
        teaching.publish_set(s, OPERATOR, week.id)
        # A reviewer says the border flag was wrong and tags the heart instead.
        limits_db.review_flag(s, OPERATOR, border_case, version, "heatmap_on_border", "rejected", "rita")
        limits_db.add_limit_tag(s, OPERATOR, border_case, "heart", "rita")
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    attempt = start_quiz(at, engine, week.id, "shortcut", 4)
    assert attempt.attempts == 1
    attempt_id, chosen = attempt.id, attempt.case_ids
    assert chosen == [marker_case, border_case, clean_case]  # the case without limits figures is left out

    answers = {marker_case: "marker", border_case: "border", clean_case: "lungs"}
    for position, case_id in enumerate(chosen):
        shown = texts(at)
        assert "where did the model look?" in shown and len(at.image) == 3  # image, overlay, colour bar
        for secret in ("Heatmap on marker", "heatmap_on", "rejected", "heart", "Scored on"):
            assert secret not in shown and secret not in repr(at.session_state.to_dict()), secret
        at.radio(key=f"quiz_answer_{attempt_id}_{position}").set_value(answers[case_id])
        at.button(key=f"quiz_submit_{attempt_id}_{position}").click().run()
        assert not at.exception, at.exception
        assert "Scored on:" in texts(at)
        at.button(key=f"quiz_next_{attempt_id}_{position}").click().run()

    with session_scope(engine) as s:
        stored = {a.case_id: a for a in s.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt_id))}
        assert stored[marker_case].correct and stored[marker_case].expected == "marker"
        # The rejected border flag does not count; the reviewer's heart tag does.
        assert not stored[border_case].correct and stored[border_case].expected == "outside"
        assert "rejected by a reviewer" in stored[border_case].expected_basis
        assert stored[clean_case].correct and stored[clean_case].expected == "lungs"
        assert all(a.model_label is None for a in stored.values())
    assert "Quiz finished" in texts(at) and "2/3" in str([m.value for m in at.metric])

    # The instructor's dashboard with nothing but shortcut answers (found broken in the live app once).
    ensure_user("teacher", ["instructor"])
    teacher = log_in(app().run(), "teacher", TEST_PASSWORD)
    teacher.switch_page("pages/dashboard.py").run()
    assert not teacher.exception, teacher.exception
    assert "only “Spot the shortcut” answers" in texts(teacher)
    [table] = [d.value for d in teacher.dataframe if "accepted answer" in d.value.columns]
    # The accepted answers as the choices read (English session), not the stored keys.
    wanted = sorted(CHOICES[key] for key in ("lungs", "marker", "outside"))
    assert sorted(table["accepted answer"]) == wanted and list(table["right"])[0] == 0.0


def test_shortcut_quiz_needs_limits_figures(library_env, use_trained_weights):
    from core.model_service import ModelService
    from core.services import quiz
    from db.errors import LibraryError

    version = ModelService(use_trained_weights).version
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        add_limits_case(s, version, 5, "NORMAL", "NORMAL", 0.9, with_limits=False)
    user_id = ensure_user("sam", ["student"])
    with session_scope(engine) as s, pytest.raises(LibraryError, match="model-limits figures"):
        quiz.start_attempt(s, user_id, "shortcut", 3, model_version=version)
