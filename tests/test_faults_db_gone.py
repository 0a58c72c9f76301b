"""Database gone (issue 18): PostgreSQL stopped under a running app and started again. The page says so in
words, what the student chose is kept (the page ends with st.stop()
before the question while the library is down, and a stopped run keeps every widget's value) and is in
the form again, and the same click succeeds once the server is back,
without restarting the app (the engine's pool_pre_ping replaces the dropped connections)."""

from __future__ import annotations

from auth_support import logged_in
from db_support import pg_server, small_folder
from quiz_support import start_quiz
from sqlalchemy import func, select
from test_db_pages import fill, texts
from test_quiz_and_roles import app

from db.engine import ensure_library, session_scope
from db.models import QuizAnswer


def test_a_quiz_answer_while_postgresql_is_down_keeps_the_form_and_goes_through_after(
    pg_server, monkeypatch, use_placeholder, kermany_test_dir, tmp_path
):
    url = pg_server.create_database()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    fill(url, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0))
    engine = ensure_library(url)
    try:
        at = logged_in(app(), "student", roles=("student",))
        at.run()
        at.switch_page("pages/quiz.py").run()
        attempt = start_quiz(at, engine, mode="diagnose", length=2)
        at.run()
        answer, confidence = f"quiz_answer_{attempt.id}_0", f"quiz_conf_{attempt.id}_0"
        at.radio(key=answer).set_value("PNEUMONIA")
        at.slider(key=confidence).set_value(90)
        pg_server.stop("fast")
        try:
            at.button(key=f"quiz_submit_{attempt.id}_0").click().run()
            assert not at.exception, at.exception
            shown = texts(at)
            assert "cannot be reached right now" in shown and "Traceback" not in shown
            at.run()  # another run while it is down (the page stops before the question each time)
            assert "cannot be reached right now" in texts(at)
        finally:
            pg_server.start()
        at.run()  # the database is back: the question again, with the student's choice still in the form
        assert not at.exception, at.exception
        assert "cannot be reached" not in texts(at)
        assert (at.radio(key=answer).value, at.slider(key=confidence).value) == ("PNEUMONIA", 90)
        at.button(key=f"quiz_submit_{attempt.id}_0").click().run()
        assert not at.exception, at.exception
        assert "cannot be reached" not in texts(at)
        with session_scope(engine) as s:
            stored = s.execute(select(QuizAnswer.answer, QuizAnswer.confidence)).all()
            assert [tuple(r) for r in stored] == [("PNEUMONIA", 0.9)]
            assert s.scalar(select(func.count()).select_from(QuizAnswer)) == 1
    finally:
        pg_server.drop_database(url)
