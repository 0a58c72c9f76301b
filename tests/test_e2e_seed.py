"""A fresh install in headless Chromium: the first Case Gallery visit shows cases while the demo seed goes on.

The real server on a new SQLite library with the committed weights (every figure: the limits probe
makes the seed's second phase last long after the first cases are there) and the real demo folder.
"""

from __future__ import annotations

import os
import re
import time

from e2e_support import app_served, chromium, create_user, log_in, require_chromium

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
    create_user(env, USER, "instructor", PASSWORD)
    log_path = tmp_path / "streamlit.log"
    with app_served(env, log_path) as url, chromium() as browser:
        served = time.monotonic()
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url, wait_until="networkidle")
        log_in(page, USER, PASSWORD)
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
