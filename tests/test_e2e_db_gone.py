"""Database gone, in headless Chromium (issue 18): PostgreSQL stopped and started again under the running app.

An instructor types notes on a case and saves while the library is down. The page says so in words (no
traceback), the notes stay on screen as typed (the case page keeps what it last read), and once the server
is back the same click saves them, without restarting the app. AppTest covers the quiz answer on this fault
(test_faults_db_gone.py); this is the browser's side: what a person sees and types.
"""

import os
import re

import e2e_support
import pytest
from db_support import pg_server, small_folder
from e2e_support import app_served, chromium, require_chromium

require_chromium()

INSTRUCTOR, PASSWORD = "e2e-gone-teacher", "e2e-password-123"
NOTES = "Right lower zone opacity — typed while the library was down"


@pytest.fixture
def server(pg_server, trained_weights_dir, tmp_path, kermany_test_dir):
    url = pg_server.create_database()
    env = {
        **os.environ,
        "CXR_WEIGHTS_DIR": str(trained_weights_dir),
        "CXR_SEED_DEMO": "0",
        "CXR_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
    }
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    e2e_support.create_user(env, INSTRUCTOR, "instructor", PASSWORD)
    e2e_support.db_cli(env, "import", str(small_folder(kermany_test_dir, tmp_path / "cases", per_class=1, loose=0)))
    log_path = tmp_path / "streamlit.log"
    try:
        with app_served(env, log_path) as app_url:
            yield app_url, url, log_path
    finally:
        pg_server.drop_database(url)


def stored_notes(url: str) -> list[str]:
    from sqlalchemy import select

    from db.engine import ensure_library, session_scope
    from db.models import Case

    with session_scope(ensure_library(url)) as s:
        return [n for n in s.scalars(select(Case.notes)) if n]


def test_notes_saved_while_postgresql_is_down_stay_on_screen_and_save_once_it_is_back(server, pg_server):
    app_url, url, log_path = server
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        page.goto(app_url, wait_until="networkidle")
        e2e_support.log_in(page, INSTRUCTOR, PASSWORD)
        page.get_by_role("link", name="Case Gallery").first.click()
        page.get_by_role("button").filter(has_text=re.compile("^Open$")).first.click()  # not a select's "open"
        notes = page.get_by_label("Notes", exact=True)
        notes.fill(NOTES)
        save = page.get_by_role("button", name="Save notes and tags")
        pg_server.stop("fast")
        try:
            save.click()
            page.get_by_text("cannot be reached right now").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "Nothing was saved" in body and "Traceback" not in body
            assert notes.input_value() == NOTES  # still on screen, as typed
            assert save.is_visible()
        finally:
            pg_server.start()
        save.click()  # the same click, the app not restarted
        page.get_by_text("Notes and tags saved.").first.wait_for(timeout=60_000)
        assert "cannot be reached" not in page.inner_text("body")
        assert notes.input_value() == NOTES
    assert stored_notes(url) == [NOTES]
    assert "Traceback" not in log_path.read_text()
