"""Quiz mode "Which map can you trust?": the secret order, and a whole quiz from publishing to the dashboard."""

import numpy as np
import pytest
from auth_support import TEST_PASSWORD, ensure_user
from db_support import small_folder
from quiz_support import start_quiz
from sqlalchemy import select
from test_db_pages import fill, library_env, texts
from test_quiz_and_roles import REPO, app, log_in

from core.services.quiz import TRUST_SECRET
from core.teaching import trust_quiz
from core.teaching.quiz_rules import MODES
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import Case, LibraryMeta, QuizAnswer
from db.operator import OPERATOR


def test_the_order_is_a_secret_permutation_fixed_per_question():
    orders = {trust_quiz.shown_order("s3cret", 7, p) for p in range(30)}
    assert all(sorted(o) == sorted(trust_quiz.CANDIDATES) for o in orders)
    assert len(orders) > 1  # not the same arrangement every time
    assert trust_quiz.shown_order("s3cret", 7, 3) == trust_quiz.shown_order("s3cret", 7, 3)
    assert any(trust_quiz.shown_order("other", 7, p) != trust_quiz.shown_order("s3cret", 7, p) for p in range(30))
    letter = trust_quiz.LETTERS[trust_quiz.shown_order("s3cret", 7, 3).index(trust_quiz.TRAINED)]
    assert trust_quiz.chosen_candidate("s3cret", 7, 3, letter) == trust_quiz.TRAINED
    with pytest.raises(ValueError):
        trust_quiz.chosen_candidate("s3cret", 7, 3, "D")
    assert not MODES["trust"].reading and MODES["trust"].needs_model


def test_instructor_publishes_student_picks_a_map_dashboard_shows_it(library_env, kermany_test_dir, tmp_path):
    """On the committed model (a random-weights one has empty Grad-CAMs, trained or scrambled)."""
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0), REPO / "weights")
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        cases = list(s.scalars(select(Case.id).order_by(Case.id)))
        week = teaching.create_set(s, OPERATOR, "Trust week")
        teaching.add_to_set(s, OPERATOR, week.id, cases)
        teaching.publish_set(s, OPERATOR, week.id)
    ensure_user("teacher", ["instructor"])
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    attempt = start_quiz(at, engine, week.id, "trust", len(cases))
    assert attempt.mode == "trust" and attempt.attempts == 1
    assert len(at.image) == 3 and [i.captions[0] for i in at.image] == ["Map A", "Map B", "Map C"]

    # Before the answer nothing in the session says which map is which.
    held = repr({k: at.session_state[k] for k in at.session_state.keys()})
    for word in (*trust_quiz.CANDIDATES, "scrambled", "Sobel", "edge"):
        assert word not in held
    shown = at.session_state[f"quiz_trust_{attempt.id}_0"]
    assert len(shown.maps) == 3 and all(m.shape == (224, 224) for m in shown.maps)
    assert not np.allclose(shown.maps[0], shown.maps[1]) and not np.allclose(shown.maps[1], shown.maps[2])

    for position in range(len(cases)):
        at.radio(key=f"quiz_answer_{attempt.id}_{position}").set_value("A")
        at.button(key=f"quiz_submit_{attempt.id}_{position}").click().run()
        assert not at.exception, at.exception
        assert "Map A:" in " ".join(c for i in at.image for c in i.captions)  # the reveal names each map
        at.button(key=f"quiz_next_{attempt.id}_{position}").click().run()
    assert "Quiz finished" in texts(at)

    with session_scope(engine) as s:
        answers = list(s.scalars(select(QuizAnswer).order_by(QuizAnswer.position)))
        secret = s.scalar(select(LibraryMeta.value).where(LibraryMeta.key == TRUST_SECRET))
    for a in answers:
        behind_a = trust_quiz.shown_order(secret, attempt.id, a.position)[0]
        assert a.answer == behind_a and a.correct == (behind_a == trust_quiz.TRAINED)
        assert a.expected == trust_quiz.TRAINED and a.truth_label == trust_quiz.TRAINED

    teacher = log_in(app().run(), "teacher", TEST_PASSWORD)
    teacher.switch_page("pages/dashboard.py").run()
    assert not teacher.exception, teacher.exception
    assert "Which map can you trust?" in texts(teacher)
