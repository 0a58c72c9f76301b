"""Every setting the lab reads from the environment, with its default. Nothing else reads os.environ.

Read at call time, not import time, so a test or a script can set a variable before the call.
The README's settings table lists the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

GEMINI_KEY_NAMES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # the google-genai SDK's own order of preference
GEMINI_MODEL = "CXR_GEMINI_MODEL"
GEMINI_TIMEOUT_S = "CXR_GEMINI_TIMEOUT_S"
GEMINI_DEADLINE_S = "CXR_GEMINI_DEADLINE_S"
NEW_USER_PASSWORD = "CXR_NEW_USER_PASSWORD"
SESSION_HOURS = "CXR_SESSION_HOURS"
DEFAULT_SESSION_HOURS = 12.0
SESSION_IDLE_MINUTES = "CXR_SESSION_IDLE_MINUTES"
DEFAULT_SESSION_IDLE_MINUTES = 60.0


def _value(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def weights_dir() -> Path:
    """CXR_WEIGHTS_DIR: the classifier, lung U-Net, input check and flag thresholds (default `<repo>/weights`)."""
    return Path(_value("CXR_WEIGHTS_DIR") or REPO_ROOT / "weights")


def shared_data_dir() -> Path:
    """CXR_SHARED_DATA: the read-only datasets, kermany224/ and lungs224/ (default `<repo>/../shared/data`)."""
    return Path(_value("CXR_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def cache_dir() -> Path:
    """CXR_CACHE_DIR: pixel caches and training runs (default `~/.cache/cxr-teaching-lab`)."""
    return Path(_value("CXR_CACHE_DIR") or Path.home() / ".cache" / "cxr-teaching-lab")


def data_dir() -> Path:
    """CXR_DATA_DIR: where the SQLite library file lives (default `<repo>/data`, gitignored)."""
    return Path(_value("CXR_DATA_DIR") or REPO_ROOT / "data")


def database_url() -> str:
    """DATABASE_URL (e.g. postgresql+psycopg://user@host/db), else the SQLite file in data_dir()."""
    return _value("DATABASE_URL") or f"sqlite:///{data_dir() / 'library.db'}"


def demo_dir() -> Path:
    """CXR_DEMO_DIR: the folder the demo seed imports (default kermany224/test: held-out films with truth)."""
    return Path(_value("CXR_DEMO_DIR") or shared_data_dir() / "kermany224" / "test")


def seed_demo() -> bool:
    """CXR_SEED_DEMO: 0/false/no/off turns the first-start demo seed off (default on)."""
    return (_value("CXR_SEED_DEMO") or "1").lower() not in ("0", "false", "no", "off")


def log_run_seconds() -> bool:
    """CXR_LOG_RUN_SECONDS: 1/true/yes/on logs each page run's server time (the load test reads it; default off)."""
    return (_value("CXR_LOG_RUN_SECONDS") or "0").lower() in ("1", "true", "yes", "on")


def gemini_value(name: str) -> str | None:
    """A Gemini setting from the environment: an API key name, CXR_GEMINI_MODEL, CXR_GEMINI_TIMEOUT_S (per
    attempt) or CXR_GEMINI_DEADLINE_S (a whole report, retries included).

    GOOGLE_GEMINI_BASE_URL is read by the google-genai SDK itself (the tests point it at a local server).
    """
    return _value(name)


def new_user_password() -> str | None:
    """CXR_NEW_USER_PASSWORD: the password `python -m db add-user` uses instead of asking (scripts, tests)."""
    return _value(NEW_USER_PASSWORD)


def _duration(name: str, default: float, unit: str, per_year: float) -> float:
    """A positive number of `unit`s, at most a year; anything else is refused rather than guessed at."""
    raw = _value(name)
    if raw is None:
        return default
    try:
        amount = float(raw)
    except ValueError:
        amount = 0.0
    if not 0 < amount <= per_year:
        raise ValueError(f"{name}={raw!r}: give a number of {unit} above 0 (and at most a year).")
    return amount


def session_hours() -> float:
    """CXR_SESSION_HOURS: how long a login lasts, reloads and browser restarts included (default 12).

    Counted from the login.
    """
    return _duration(SESSION_HOURS, DEFAULT_SESSION_HOURS, "hours", 24 * 366)


def session_idle_minutes() -> float:
    """CXR_SESSION_IDLE_MINUTES: a login unused for longer than this ends (default 60), however long it had left.

    OWASP's session guidance: an idle timeout as well as the absolute one (CXR_SESSION_HOURS).
    """
    return _duration(SESSION_IDLE_MINUTES, DEFAULT_SESSION_IDLE_MINUTES, "minutes", 60 * 24 * 366)


def runtime() -> str:
    """CXR_RUNTIME: `auto` (default) runs predictions on the ONNX Runtime export when it is current, else torch;
    `torch` always uses torch (the reference, e.g. to compare)."""
    value = (_value("CXR_RUNTIME") or "auto").lower()
    if value not in ("auto", "torch"):
        raise ValueError(f"CXR_RUNTIME={value!r}: give auto or torch.")
    return value


def korean_font() -> Path | None:
    """CXR_KOREAN_FONT: a font file with Hangul for PDF reports and figure labels (.ttf, .otf or .ttc).

    Unset: core.fonts looks for Noto Sans CJK (Debian's fonts-noto-cjk, which scripts/system-deps.sh installs).
    """
    value = _value("CXR_KOREAN_FONT")
    return Path(value) if value else None
