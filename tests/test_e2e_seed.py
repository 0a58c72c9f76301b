"""A fresh install in headless Chromium: the first Case Gallery visit shows cases while the demo seed goes on.

The real server on a new SQLite library with the committed weights (every figure: the limits probe
makes the seed's second phase last long after the first cases are there) and the real demo folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from e2e_support import REPO, app_served, chromium, require_chromium

require_chromium()

USER, PASSWORD = "seed-teacher", "seed-password-123"


def test_the_first_gallery_visit_shows_cases_before_the_seed_ends(tmp_path):
    env = {**os.environ, "CXR_DATA_DIR": str(tmp_path / "data")}
    for name in (
        "DATABASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "CXR_SEED_DEMO",
        "CXR_DEMO_DIR",
        "CXR_WEIGHTS_DIR",
    ):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "-m", "db", "users", "create", USER, "--role", "instructor"],
        cwd=REPO,
        env={**env, "CXR_NEW_USER_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = tmp_path / "streamlit.log"
    with app_served(env, log_path) as url, chromium() as browser:
        served = time.monotonic()
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url, wait_until="networkidle")
        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_text(f"Logged in as {USER}").first.wait_for(timeout=60_000)
        clicked = time.monotonic()
        page.get_by_role("link", name="Case Gallery").first.click()
        # Cases in the gallery, and the seed's bar still there: the page did not wait for the seed.
        count = page.get_by_text(re.compile(r"^[1-9]\d* cases? match"))
        count.first.wait_for(timeout=120_000)
        shown = time.monotonic()
        bar = page.get_by_text(re.compile(r"Adding demo cases|Demo cases added; model-limit figures"))
        assert bar.count() > 0, page.inner_text("body")
        print(f"cases shown {shown - clicked:.1f} s after the click, {shown - served:.1f} s after the server answered")
        page.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log
