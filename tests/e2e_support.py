"""What the browser tests share: Debian's Chromium, the real server started as run.sh serves it, a browser.

Playwright drives Chromium through its executable_path, so no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip the calling test module without Chromium, except in CI, where test.sh must have installed it."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is not installed: test.sh installs it with apt-get")
        pytest.skip("chromium not installed (./test.sh installs it)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` (Home.py plus the login cookie's routes) on a free loopback port: the process, its URL."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}"


def wait_until_healthy(url: str, log_path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()}")


@contextmanager
def app_served(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The app served for the test; its output goes to `log_path` (for tracebacks); stopped on the way out."""
    proc, url = start_app(env, log_path)
    try:
        wait_until_healthy(url, log_path)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def db_cli(env: dict[str, str], *args: str, **extra: str) -> None:
    """`python -m db ARGS` as the README runs it, with `extra` added to the environment; fails on a non-zero exit."""
    subprocess.run(
        [sys.executable, "-m", "db", *args],
        cwd=REPO,
        env={**env, **extra},
        check=True,
        capture_output=True,
        timeout=900,
    )


def create_user(env: dict[str, str], name: str, role: str, password: str) -> None:
    """A user made the way the README says: the real CLI."""
    db_cli(env, "users", "create", name, "--role", role, CXR_NEW_USER_PASSWORD=password)


def log_in(page, name: str, password: str) -> None:
    """Through the real form, in English; waits for the sidebar to name the user."""
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(f"Logged in as {name}").first.wait_for(timeout=60_000)


@contextmanager
def chromium() -> Iterator:
    """Headless Chromium, through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
