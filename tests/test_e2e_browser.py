"""End to end in headless Chromium: the real server, a real upload, the rendered result.

Needs Debian's chromium (test.sh installs it); tests/e2e_support.py starts the server and the browser.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import REPO, app_served, chromium, create_user, log_in, require_chromium

require_chromium()


E2E_USER, E2E_PASSWORD = "e2e-teacher", "e2e-password-123"


def open_logged_in(browser, url: str, page_title: str, **options):
    """Log in through the real form, then go to a page through the sidebar (a reload would start a new session)."""
    page = browser.new_page(**options)
    page.goto(url, wait_until="networkidle")
    log_in(page, E2E_USER, E2E_PASSWORD)
    page.get_by_role("link", name=page_title).first.click()
    return page


@pytest.fixture(scope="module")
def e2e_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("library")


@pytest.fixture(scope="module")
def app_server(trained_weights_dir, tmp_path_factory, e2e_data_dir, kermany_test_dir):
    from db_support import small_folder

    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    env = {
        **os.environ,
        "CXR_WEIGHTS_DIR": str(trained_weights_dir),
        "CXR_SEED_DEMO": "0",
        "CXR_DATA_DIR": str(e2e_data_dir),
    }
    for name in ("DATABASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    # Every page needs a login: make the instructor the way the README says (the real CLI).
    create_user(env, E2E_USER, "instructor", E2E_PASSWORD)
    # A few labelled cases for the quiz, imported with the real CLI.
    cases = small_folder(kermany_test_dir, tmp_path_factory.mktemp("cases"), per_class=1, loose=0)
    subprocess.run(
        [sys.executable, "-m", "db", "import", str(cases)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with app_served(env, log_path) as url:
        yield url, log_path


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_upload_in_browser_shows_prediction_and_overlay(app_server, browser, xray_bytes, tmp_path):
    url, log_path = app_server
    image = tmp_path / "case.jpeg"
    image.write_bytes(xray_bytes)
    page = open_logged_in(browser, url, "Analyze", viewport={"width": 1400, "height": 1600})
    page.get_by_text("does not diagnose").first.wait_for(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(image))
    page.get_by_text("Probability of pneumonia").first.wait_for(timeout=90_000)
    page.get_by_text("Grad-CAM for").first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    # The page runs inside Home.py's router and shared sidebar.
    assert "Model Limits" in body and "Educational use only" in body
    assert ("NORMAL" in body) or ("PNEUMONIA" in body)
    assert "Model version" in body
    page.screenshot(path=str(tmp_path / "analyze.png"), full_page=True)
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        shutil.copy(tmp_path / "analyze.png", Path(shots) / "analyze.png")
    page.close()
    log = log_path.read_text()
    assert "Traceback" not in log and "Error" not in log, log


def test_rejected_upload_in_browser_shows_reason(app_server, browser, tmp_path):
    url, _ = app_server
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    page = open_logged_in(browser, url, "Analyze")
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("was not analysed").first.wait_for(timeout=60_000)
    assert "Not an image" in page.inner_text("body")
    page.close()


def test_quiz_click_to_mark_in_browser(app_server, browser, e2e_data_dir):
    """The click-to-mark component in a real browser: a click becomes the stored mark."""
    from sqlalchemy import select

    from db.engine import ensure_library, session_scope
    from db.models import QuizAnswer

    url, log_path = app_server
    page = open_logged_in(browser, url, "Quiz", viewport={"width": 1400, "height": 1800})
    page.get_by_role("button", name="Start the quiz").click()
    image = page.frame_locator("iframe[title*='image_coordinates']").locator("#image")
    image.wait_for(timeout=60_000)
    box = image.bounding_box()
    assert box["width"] == pytest.approx(448, abs=1)
    image.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.75})
    page.get_by_text("Your mark:").first.wait_for(timeout=30_000)
    assert "25% across, 75% down" in page.inner_text("body")
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "quiz_mark.png"), full_page=True)
    page.get_by_text("PNEUMONIA", exact=True).first.click()
    page.get_by_role("button", name="Answer").click()
    page.get_by_text("the ground truth is").first.wait_for(timeout=60_000)
    # The reveal arrives in pieces (Streamlit streams elements): wait for each part, not a snapshot.
    page.get_by_text("Your mark is").first.wait_for(timeout=60_000)
    page.get_by_text("instructor's notes").first.wait_for(timeout=60_000)
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "quiz_reveal.png"), full_page=True)
    # The answer is in the instructor's dashboard at once.
    page.get_by_role("link", name="Class Dashboard").first.click()
    page.get_by_text(re.compile(r"^(0% \(0/1\)|100% \(1/1\))$")).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    if shots:
        page.screenshot(path=str(Path(shots) / "dashboard.png"), full_page=True)
    # End the quiz: an unfinished one would be resumed by the later tests' quiz pages.
    page.get_by_role("link", name="Quiz").first.click()
    page.get_by_role("button", name="End this quiz now").click()
    page.get_by_role("button", name="Start the quiz").wait_for(timeout=60_000)
    page.close()
    with session_scope(ensure_library(f"sqlite:///{e2e_data_dir / 'library.db'}")) as s:
        [answer] = s.scalars(select(QuizAnswer)).all()
    assert answer.answer == "PNEUMONIA"
    assert (answer.mark_x, answer.mark_y) == (pytest.approx(0.25, abs=0.01), pytest.approx(0.75, abs=0.01))
    log = log_path.read_text()
    assert "Traceback" not in log and "Error" not in log, log


def test_explain_grid_in_browser_runs_a_slow_method(app_server, browser, xray_bytes, tmp_path):
    """The Explain page in Chromium: an upload, the fast maps at once, then occlusion on request to completion."""
    from playwright.sync_api import expect

    url, log_path = app_server
    image = tmp_path / "case.jpeg"
    image.write_bytes(xray_bytes)
    page = open_logged_in(browser, url, "Explain", viewport={"width": 1500, "height": 2400})
    page.locator("input[type=file]").set_input_files(str(image))
    page.get_by_text(re.compile(r"^lrp · relevance propagation · [\d,]+ ms")).first.wait_for(timeout=180_000)
    page.get_by_text("occlusion · perturbation-based · slow").first.wait_for(timeout=120_000)
    page.get_by_text("kernel_shap · perturbation-based · slow").first.wait_for(timeout=120_000)  # the last card
    buttons = page.get_by_role("button", name="Compute")
    count = buttons.count()
    buttons.nth(["scorecam", "occlusion", "lime", "kernel_shap"].index("occlusion")).click()
    page.get_by_text(re.compile(r"^occlusion · perturbation-based · [\d,]+ ms")).first.wait_for(timeout=180_000)
    # Elements stream in: the card's new text can arrive a moment before its old button leaves.
    expect(page.get_by_role("button", name="Compute")).to_have_count(count - 1, timeout=120_000)
    body = page.inner_text("body")
    assert "Educational use only" in body and "gradient-based" in body
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "explain_grid.png"), full_page=True)
    page.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log


def test_korean_walk_in_browser_analyze_gallery_quiz_model_card(app_server, browser, xray_bytes, tmp_path):
    """A browser set to Korean (ko-KR) gets the Korean interface from login on: Analyze, Case Gallery, Quiz, Model Card."""
    url, log_path = app_server
    image = tmp_path / "case.jpeg"
    image.write_bytes(xray_bytes)
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    page = browser.new_page(locale="ko-KR", viewport={"width": 1400, "height": 1600})
    page.goto(url, wait_until="networkidle")
    page.get_by_label("사용자 이름").fill(E2E_USER)
    page.get_by_label("비밀번호", exact=True).fill(E2E_PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.get_by_text(f"로그인: {E2E_USER}").first.wait_for(timeout=60_000)
    walk = (
        ("analyze", "분석", "흉부 X선 분석", "폐렴 확률"),
        ("gallery", "증례 갤러리", "증례 갤러리", "조건에 맞는 증례 2개"),
        ("quiz", "퀴즈", "퀴즈", "증례 1/"),
        ("model_card", "모델 카드", "모델 카드", "불확실성과 입력 검사"),
    )  # (screenshot, the sidebar link, the page title, a text that shows the page is done)
    for name, link, title, shown in walk:
        page.get_by_role("link", name=link).first.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        if link == "분석":
            page.locator("input[type=file]").set_input_files(str(image))
        if link == "퀴즈":
            page.get_by_role("button", name="퀴즈 시작").click()
        page.get_by_text(shown).first.wait_for(timeout=120_000)
        if link == "퀴즈":
            page.frame_locator("iframe[title*='image_coordinates']").locator("#image").wait_for(timeout=60_000)
        page.wait_for_function(  # the run is over and every picture has arrived
            "() => !document.querySelector('[data-testid=stSkeleton]')"
            " && !document.querySelector('[data-testid=stStatusWidget] img, [data-testid=stStatusWidget] button')"
            " && Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
            timeout=120_000,
        )
        body = page.inner_text("body")
        assert "진단을 대신하지 않습니다" in body and "does not diagnose" not in body, link
        if link == "분석":
            check_korean_downloads(page, tmp_path)
        if shots:
            page.screenshot(path=str(Path(shots) / f"ko_{name}.png"), full_page=True)
    page.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log


def download(page, label: str, tmp_path) -> Path:
    """Click a download button as a person would; the file the browser received."""
    with page.expect_download(timeout=120_000) as info:
        page.locator("[data-testid=stDownloadButton] button").filter(has_text=label).first.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target


def check_korean_downloads(page, tmp_path) -> None:
    """Analyze's downloads as a Korean user gets them: the picture (PNG at the export width with the captions
    below the picture), the figures (JSON with the model version and probability the page shows) and the
    report (PDF and Markdown stating the model's label and the Korean notice)."""
    import json

    from PIL import Image
    from pypdf import PdfReader

    from core.exports.figure import WIDTH
    from core.reports.content import CLASS_WORDS, NOTICE

    with Image.open(download(page, "영상 내려받기 (PNG)", tmp_path)) as png:
        assert png.format == "PNG" and png.width == WIDTH and png.height > WIDTH  # 224² picture + bar + captions
    figures = json.loads(download(page, "수치 내려받기 (JSON)", tmp_path).read_text(encoding="utf-8"))
    prediction, body = figures["prediction"], page.inner_text("body")
    assert prediction["model_version"] and prediction["model_version"] in body  # the version the page shows
    assert 0 <= prediction["probability_pneumonia"] <= 1 and prediction["probability_pneumonia_text"] in body
    assert prediction["label"] in CLASS_WORDS["ko"] and "진단을 대신하지 않습니다" in figures["notice"]
    page.get_by_role("button", name="리포트 생성").click()  # the offline template, in the interface's language
    reader = PdfReader(download(page, "리포트 내려받기 (PDF)", tmp_path))
    # pypdf yields a NUL before each character of fpdf2's CID-keyed font (tests/test_viewer.py says why).
    text = "".join(p.extract_text() for p in reader.pages).replace("\x00", "")
    flat = "".join(text.split())
    assert "".join(NOTICE["ko"].split()) in flat and NOTICE["en"][:30] not in text
    assert any(f"모델출력:{''.join(word.split())}" in flat for word in CLASS_WORDS["ko"].values()), text[:300]
    markdown = download(page, "리포트 내려받기 (Markdown)", tmp_path).read_text(encoding="utf-8")
    assert NOTICE["ko"] in markdown and NOTICE["en"][:30] not in markdown
    # The label the figures carry, in the Korean words, stated under the title.
    stated = markdown.split("\n")[1]  # the label, probability and model the figures carry, under the title
    assert f"모델 출력: {CLASS_WORDS['ko'][prediction['label']]}" in stated, markdown[:300]
    assert f"폐렴 확률 {prediction['probability_pneumonia_text']}" in stated and prediction["model_version"] in stated


def background(page) -> tuple[int, ...]:
    """The app container's computed background colour, as (r, g, b)."""
    colour = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    return tuple(int(v) for v in re.findall(r"\d+", colour)[:3])


def test_dark_theme_from_the_menu_renders_the_pages_dark(app_server, browser, xray_bytes, tmp_path):
    """The menu's theme switch (top right): Dark turns the pages dark, the viewer's picture included."""
    url, log_path = app_server
    image = tmp_path / "case.jpeg"
    image.write_bytes(xray_bytes)
    page = open_logged_in(browser, url, "Analyze", viewport={"width": 1400, "height": 1400}, color_scheme="light")
    page.get_by_role("heading", name="Analyze a chest X-ray").first.wait_for(timeout=60_000)
    assert min(background(page)) > 200  # light to begin with (the browser prefers light)
    page.locator("[data-testid=stMainMenu]").click()
    page.locator("[data-testid=stMainMenuItem-theme-Dark]").click()
    page.keyboard.press("Escape")  # close the menu
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor !== 'rgb(255, 255, 255)'",
        timeout=30_000,
    )
    assert max(background(page)) < 60
    page.locator("input[type=file]").set_input_files(str(image))
    page.frame_locator(VIEWER_FRAME).locator(".js-plotly-plot image").first.wait_for(timeout=90_000)
    page.get_by_text("Colour bar: low").first.wait_for(timeout=60_000)
    # The viewer's frame lets the dark page show through around the picture.
    paper = (
        page.frame_locator(VIEWER_FRAME).locator(".main-svg").first.evaluate("e => getComputedStyle(e).backgroundColor")
    )
    assert paper in ("rgba(0, 0, 0, 0)", "transparent"), paper
    sidebar = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=stSidebar]')).backgroundColor")
    assert max(int(v) for v in re.findall(r"\d+", sidebar)[:3]) < 80, sidebar
    page.screenshot(path=str(tmp_path / "dark_analyze.png"), full_page=True)
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        shutil.copy(tmp_path / "dark_analyze.png", Path(shots) / "dark_analyze.png")
    page.get_by_role("link", name="Model Card").first.click()  # the choice holds on the next page
    page.get_by_role("heading", name="Model Card").first.wait_for(timeout=60_000)
    assert max(background(page)) < 60
    page.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log


VIEWER_FRAME = "iframe[title*='cxr_viewer']"


def viewer_state(page) -> dict | None:
    """The viewer's Plotly chart as the browser has it (in the viewer's frame): the shown x and y ranges and
    the picture's bytes."""
    frame = next((f for f in page.frames if "cxr_viewer" in f.url), None)
    return frame and frame.evaluate(
        """() => {
            const plot = document.querySelector('.js-plotly-plot');
            const image = plot && plot.querySelector('image');
            return plot && plot._fullLayout && image ? {
                range: plot._fullLayout.xaxis.range.slice(),
                yrange: plot._fullLayout.yaxis.range.slice(),
                href: image.getAttribute('href'),
            } : null;
        }"""
    )


def wait_for_change(page, before: dict, field: str, timeout_s: float = 60) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        now = viewer_state(page)
        if now is not None and now[field] != before[field]:
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"the viewer's {field} did not change")


def same_view(one: dict, other: dict) -> bool:
    return all(
        a == pytest.approx(b, abs=1e-6) for a, b in zip(one["range"] + one["yrange"], other["range"] + other["yrange"])
    )


def test_viewer_zoom_outlives_window_level_and_map_changes_until_reset(app_server, browser, xray_bytes, tmp_path):
    url, log_path = app_server
    image = tmp_path / "case.jpeg"
    image.write_bytes(xray_bytes)
    page = open_logged_in(browser, url, "Analyze", viewport={"width": 1400, "height": 1600})
    page.locator("input[type=file]").set_input_files(str(image))
    page.frame_locator(VIEWER_FRAME).locator(".js-plotly-plot image").first.wait_for(timeout=90_000)
    start = viewer_state(page)
    width = start["range"][1] - start["range"][0]

    # Zoom: the mouse wheel over the picture narrows the shown range (Plotly, in the browser).
    box = page.frame_locator(VIEWER_FRAME).locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(200)
    zoomed = wait_for_change(page, start, "range")
    assert zoomed["range"][1] - zoomed["range"][0] < 0.9 * width and zoomed["href"] == start["href"]

    # Window/level: the lung preset redraws the picture on the server; the zoom stays.
    preset = page.locator("[data-testid='stSelectbox']").filter(has_text="Window/level preset")
    preset.locator("input").first.click()
    page.keyboard.type("Lung")
    page.keyboard.press("Enter")
    windowed = wait_for_change(page, zoomed, "href")
    assert windowed["href"] != start["href"] and same_view(windowed, zoomed), (windowed["range"], zoomed["range"])
    page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    shots = os.environ.get("CXR_SCREENSHOT_DIR")
    if shots:
        shutil.copy(tmp_path / "viewer.png", Path(shots) / "viewer.png")

    # The level slider, dragged: a new picture again, the same zoom.
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Level (lower").get_by_role("slider").first
    at = thumb.bounding_box()
    page.mouse.move(at["x"] + at["width"] / 2, at["y"] + at["height"] / 2)
    page.mouse.down()
    page.mouse.move(at["x"] - 40, at["y"] + at["height"] / 2, steps=5)
    page.mouse.up()
    levelled = wait_for_change(page, windowed, "href")
    assert same_view(levelled, zoomed)

    # The map toggle: the map and its colour bar go (the test model's map is too faint to change the pixels).
    bar = page.get_by_text("Colour bar: low")
    bar.first.wait_for(timeout=30_000)
    page.get_by_role("switch", name="Map").click(force=True)  # the switch's input is visually hidden
    bar.first.wait_for(state="detached", timeout=60_000)
    page.wait_for_timeout(1000)  # the frame has had the new render
    assert same_view(viewer_state(page), zoomed)

    # Reset: the stored grey levels, the map and the whole picture again.
    page.get_by_role("button", name="Reset view").click()
    # The redraw passes through states with the old picture: wait for the settled view.
    deadline, reset = time.time() + 60, viewer_state(page)
    while time.time() < deadline and not (reset and reset["href"] == start["href"] and same_view(reset, start)):
        page.wait_for_timeout(250)
        reset = viewer_state(page)
    assert reset and reset["href"] == start["href"] and same_view(reset, start)
    assert abs((reset["range"][1] - reset["range"][0]) - width) < 1e-6
    page.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log
