"""The server entry point: `streamlit run app.py` (run.sh does). Home.py is the app; this adds the two HTTP
routes that write and clear the login cookie (core/services/session_cookie.py), which a script cannot do,
and starts the demo library's background seed when the server starts (core/services/demo_seed.py).
"""

import sys
import threading
from contextlib import asynccontextmanager

# Imported once here, in the server's main thread, before any session thread can: ten users opening their
# first pages at once made two threads import pandas together, and one saw a half-initialised module
# ("partially initialized module 'pandas' has no attribute 'Series'"; found by scripts/loadtest.py).
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st

from core.services.session_cookie import routes


def _load_model() -> None:
    from pages.common import load_model_at_server_start  # torch and the model: off the server's start path

    load_model_at_server_start()


def _start_demo_seed() -> None:
    from pages.demo_seed_ui import start_at_server_start

    start_at_server_start()


@asynccontextmanager
async def lifespan(_app):
    # A thread, so that the server answers at once; the seed itself runs in its own daemon thread.
    threading.Thread(target=_load_model, name="model-load", daemon=True).start()
    threading.Thread(target=_start_demo_seed, name="demo-seed-start", daemon=True).start()
    yield
    seeding = sys.modules.get("core.services.demo_seed")
    if seeding is not None:  # give the lease up after the current batch: another server may go on at once
        seeding.stop_all(timeout=10)


app = st.App("Home.py", routes=routes(), lifespan=lifespan)
