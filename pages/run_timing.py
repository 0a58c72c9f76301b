"""Each page run's server time, logged when CXR_LOG_RUN_SECONDS is on.

The load test reads these lines: a browser on the server's own cores adds its rendering to what it
measures, while a class's browsers each render on their own computer.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from core import settings

LOG = logging.getLogger("cxr.run_seconds")
MARK = "cxr-run-seconds"


@contextmanager
def timed_run(started: float, page: str):
    """Log `MARK page seconds` when the run ends (st.stop and st.rerun end it too)."""
    try:
        yield
    finally:
        if settings.log_run_seconds():
            LOG.warning("%s %s %.4f", MARK, page or "home", time.perf_counter() - started)
