"""A class at once, by hand (not part of CI): a fresh server and N+1 browser sessions starting together.

    .venv/bin/python scripts/class_at_once.py [N]      # ROOT_ONLY=1: every session opens / (not a page address)

Starts Streamlit on a new SQLite library with one instructor and N students, then N+1 headless Chromium
pages open /, /analyze, /quiz, /dashboard, … at the same moment right after the server is up (the race in
which a page module used to be imported half-initialised), log in, open the Quiz or the Class Dashboard,
and the server log is searched for tracebacks. Loopback only, bounded in sessions and time.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(os.environ.get("REPO", Path(__file__).resolve().parent.parent))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 8
data = Path(tempfile.mkdtemp())
env = dict(os.environ, CXR_DATA_DIR=str(data), CXR_SEED_DEMO="0", CXR_NEW_USER_PASSWORD="pw-123456789")
py = sys.executable
subprocess.run(
    [py, "-m", "db", "users", "create", "teach", "--role", "instructor"],
    cwd=REPO,
    env=env,
    check=True,
    capture_output=True,
)
for i in range(N):
    subprocess.run(
        [py, "-m", "db", "users", "create", f"s{i}", "--role", "student"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
log = open(data / "server.log", "w")
port = 8611
server = subprocess.Popen(
    [py, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port)],
    cwd=REPO,
    env=env,
    stdout=log,
    stderr=subprocess.STDOUT,
)
for _ in range(120):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
        break
    except Exception:
        time.sleep(0.5)
from playwright.sync_api import sync_playwright  # noqa: E402  (after the server is up)

errors = []
paths = [""] if os.environ.get("ROOT_ONLY") else ["", "analyze", "quiz", "dashboard", "model_card", "case_gallery"]


def user(i):
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page()
            page.goto(
                f"http://127.0.0.1:{port}/{paths[i % len(paths)]}", wait_until="domcontentloaded", timeout=120_000
            )
            name = "teach" if i == 0 else f"s{i - 1}"
            page.get_by_label("User name").fill(name, timeout=120_000)
            page.get_by_label("Password", exact=True).fill("pw-123456789")
            page.get_by_role("button", name="Log in").click()
            page.get_by_text(f"Logged in as {name}").first.wait_for(timeout=120_000)
            target = "Class Dashboard" if i == 0 else "Quiz"
            page.get_by_role("link", name=target).first.click()
            page.wait_for_timeout(8000)
            b.close()
    except Exception as exc:
        errors.append(f"user {i}: {type(exc).__name__}: {str(exc)[:200]}")


start = time.time()
threads = [threading.Thread(target=user, args=(i,)) for i in range(N + 1)]
for t in threads:
    t.start()
for t in threads:
    t.join(400)
server.terminate()
server.wait(20)
log.close()
text = (data / "server.log").read_text()
print(f"{N + 1} sessions in {time.time() - start:.0f} s; client errors: {errors or 'none'}")
bad = [
    line
    for line in text.splitlines()
    if any(w in line for w in ("Traceback", "ImportError", "ArrowInvalid", "ArrowTypeError", "Error"))
]
print("server log problem lines:", bad[:10] or "none")
