"""Logins that outlive a page, in headless Chromium against the real server (app.py, as run.sh serves it).

One browser test per flow: a reload (and a new tab, and a typed address) keeps the login and the page; an
unfinished quiz comes back after a reload and after logging out and in; a password change in one browser
ends the session of another. Server, library and users are this module's own.
"""

import os
import re
import subprocess
import sys
import time

import e2e_support
import pytest
from e2e_support import REPO, app_served, chromium, require_chromium

from core.session_tokens import COOKIE_NAME

require_chromium()

TEACHER, STUDENT, OTHER = "e2e-teacher", "e2e-student", "e2e-changer"
PASSWORD = "e2e-password-123"


@pytest.fixture(scope="module")
def server(trained_weights_dir, tmp_path_factory, kermany_test_dir):
    from db_support import small_folder

    data = tmp_path_factory.mktemp("sessions-library")
    env = {**os.environ, "CXR_WEIGHTS_DIR": str(trained_weights_dir), "CXR_SEED_DEMO": "0", "CXR_DATA_DIR": str(data)}
    for name in ("DATABASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY", "CXR_SESSION_HOURS", "CXR_SESSION_IDLE_MINUTES"):
        env.pop(name, None)

    e2e_support.create_user(env, TEACHER, "instructor", PASSWORD)
    for name in (STUDENT, OTHER):
        e2e_support.create_user(env, name, "student", PASSWORD)
    e2e_support.db_cli(
        env, "import", str(small_folder(kermany_test_dir, tmp_path_factory.mktemp("cases"), per_class=1, loose=0))
    )
    log_path = data / "streamlit.log"
    with app_served(env, log_path) as url:
        yield url, data, log_path


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def log_in(page, name: str, password: str = PASSWORD) -> None:
    e2e_support.log_in(page, name, password)


def session_cookie(context) -> dict:
    [cookie] = [c for c in context.cookies() if c["name"] == COOKIE_NAME]
    return cookie


def wait_for_cookie(context) -> dict:
    for _ in range(100):  # the cookie arrives with a fetch right after the login's rerun
        if any(c["name"] == COOKIE_NAME for c in context.cookies()):
            return session_cookie(context)
        time.sleep(0.1)
    raise AssertionError("no session cookie was set")


def no_traceback(log_path) -> None:
    log = log_path.read_text()
    assert "Traceback" not in log, log


def test_a_reload_a_new_tab_and_a_typed_address_keep_the_login_and_the_page(server, browser):
    url, _data, log_path = server
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.goto(f"{url}/model_card", wait_until="networkidle")  # typed before logging in
    page.get_by_role("heading", name="Log in").wait_for(timeout=60_000)
    assert "Page not found" not in page.inner_text("body")
    log_in(page, TEACHER)
    page.get_by_role("heading", name="Model Card").first.wait_for(timeout=60_000)  # the address asked for
    cookie = wait_for_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # http on loopback
    assert cookie["expires"] > time.time() + 11.9 * 3600  # persistent: a restarted browser still sends it
    assert cookie["value"] not in page.url and COOKIE_NAME not in page.evaluate("document.cookie")
    page.reload(wait_until="networkidle")  # F5
    page.get_by_role("heading", name="Model Card").first.wait_for(timeout=60_000)
    page.get_by_text(f"Logged in as {TEACHER}").first.wait_for(timeout=60_000)
    tab = context.new_page()  # a new tab, typing another page's address
    tab.goto(f"{url}/case_gallery", wait_until="networkidle")
    tab.get_by_text(f"Logged in as {TEACHER}").first.wait_for(timeout=60_000)
    tab.get_by_role("heading", name="Case Gallery").first.wait_for(timeout=60_000)
    restarted = browser.new_context(storage_state=context.storage_state())  # what a browser restart keeps
    again = restarted.new_page()
    again.goto(f"{url}/quiz", wait_until="networkidle")
    again.get_by_role("heading", name="Quiz").first.wait_for(timeout=60_000)
    again.get_by_text(f"Logged in as {TEACHER}").first.wait_for(timeout=60_000)
    # Logging out ends it for every tab and clears the cookie.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for(timeout=60_000)
    for _ in range(50):
        if not any(c["name"] == COOKIE_NAME for c in context.cookies()):
            break
        time.sleep(0.1)
    assert not any(c["name"] == COOKIE_NAME for c in context.cookies())
    again.reload(wait_until="networkidle")  # the copied cookie is revoked in the library
    again.get_by_role("heading", name="Log in").wait_for(timeout=60_000)
    restarted.close()
    context.close()
    no_traceback(log_path)


def test_an_unfinished_quiz_resumes_after_a_reload_and_after_logging_in_again(server, browser):
    from sqlalchemy import select

    from db.engine import ensure_library, session_scope
    from db.models import QuizAttempt

    url, data, log_path = server
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.goto(f"{url}/quiz", wait_until="networkidle")
    log_in(page, STUDENT)
    wait_for_cookie(context)
    page.get_by_role("button", name="Start the quiz").click()
    page.get_by_text("Case 1 of 2").first.wait_for(timeout=60_000)
    page.get_by_text("PNEUMONIA", exact=True).first.click()
    page.get_by_role("button", name="Answer").click()
    page.get_by_text("the ground truth is").first.wait_for(timeout=60_000)
    page.reload(wait_until="networkidle")
    page.get_by_text("Case 2 of 2").first.wait_for(timeout=60_000)  # same quiz, next unanswered case
    page.get_by_text("Your accuracy").first.wait_for(timeout=30_000)
    assert re.search(r"Your accuracy\s*[01]/1", page.inner_text("body"))  # the first answer is kept
    page.get_by_role("button", name="Log out").click()
    log_in(page, STUDENT)
    page.get_by_role("link", name="Quiz").first.click()
    page.get_by_text("Case 2 of 2").first.wait_for(timeout=60_000)
    page.get_by_text("NORMAL", exact=True).first.click()
    page.get_by_role("button", name="Answer").click()
    page.get_by_role("button", name="See the result").click()
    page.get_by_text("Quiz finished").first.wait_for(timeout=60_000)
    page.get_by_text("Your history").first.wait_for(timeout=60_000)
    context.close()
    with session_scope(ensure_library(f"sqlite:///{data / 'library.db'}")) as s:
        [attempt] = s.scalars(select(QuizAttempt)).all()  # one attempt, not an orphan and a second one
        assert attempt.finished_at is not None
        assert [a.position for a in attempt.answers] == [0, 1]
        assert [a.case_id for a in attempt.answers] == attempt.case_ids  # same cases, same order
        assert [a.answer for a in attempt.answers] == ["PNEUMONIA", "NORMAL"]
    no_traceback(log_path)


def test_a_password_change_ends_the_users_other_sessions(server, browser):
    url, _data, log_path = server
    here, there = (browser.new_context(viewport={"width": 1400, "height": 1200}) for _ in range(2))
    mine, other = here.new_page(), there.new_page()
    for page, context in ((mine, here), (other, there)):
        page.goto(f"{url}/account", wait_until="networkidle")
        log_in(page, OTHER)
        wait_for_cookie(context)
    before = session_cookie(here)["value"]
    mine.get_by_role("heading", name="Your account").first.wait_for(timeout=60_000)
    mine.get_by_label("Current password").fill(PASSWORD)
    mine.get_by_label("New password (at least 8 characters)").fill("a new e2e password")
    mine.get_by_label("New password again").fill("a new e2e password")
    mine.get_by_role("button", name="Change password").click()
    mine.get_by_text("Password changed").first.wait_for(timeout=60_000)
    for _ in range(50):  # rotation: this browser gets a new token
        if session_cookie(here)["value"] != before:
            break
        time.sleep(0.1)
    assert session_cookie(here)["value"] != before
    other.get_by_role("link", name="Model Card").first.click()  # the other browser's next click
    other.get_by_text("Your session has ended").first.wait_for(timeout=60_000)
    other.reload(wait_until="networkidle")
    other.get_by_role("heading", name="Log in").wait_for(timeout=60_000)
    mine.reload(wait_until="networkidle")
    mine.get_by_text(f"Logged in as {OTHER}").first.wait_for(timeout=60_000)
    here.close()
    there.close()
    no_traceback(log_path)
