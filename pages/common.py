"""What every page shares: the one cached model service and the sidebar notices."""

from __future__ import annotations

import ast
import importlib
import logging
import threading
import time
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core.analysis import DISCLAIMER
from core.model_service import ModelService
from pages.i18n_ui import _, language_switch

_ROUTED = threading.Event()


def route_through_home() -> None:
    """Send a page that Streamlit ran as a v1 auto-page back through Home.py's router.

    Streamlit treats a `pages/` folder beside the main script as v1 auto-pages until the first
    st.navigation call, so the first visitor of a fresh server landing straight on /analyze would
    bypass the router (and its login). Every page calls this first (through require_login), never
    at import time: a rerun raised while a module is being imported leaves it half-initialised
    for every other session importing it at that moment. Once per process: after the switch the
    flag stays off (only Streamlit's AppTest resets it, and a rerun there would drop the click
    that started the run).
    """
    if PagesManager.uses_pages_directory and not _ROUTED.is_set():
        _ROUTED.set()
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _model_service() -> ModelService:
    return ModelService()


def cached_model_service() -> ModelService:
    """The same one model, without a spinner: for work outside a page run (the background demo seed)."""
    return _model_service()


_LOADED = threading.Event()
MODEL_LOADED = "cxr-model-loaded at server start in"
_WARMING = threading.Event()


def import_what_pages_import() -> list[str]:
    """Import every module a page script imports (the scripts themselves run per page run, so not them).

    Otherwise the first Analyze of the process imports pytorch-grad-cam, SciPy and more inside a page run,
    holding Python's import locks while other sessions' runs wait on them.
    """
    from pages.navigation import ACCOUNT_PAGE, PAGES

    root = Path(__file__).resolve().parent.parent
    names: list[str] = []
    for page in (*PAGES, ACCOUNT_PAGE):
        tree = ast.parse((root / page.path).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    for name in dict.fromkeys(names):
        importlib.import_module(name)
    return list(dict.fromkeys(names))


def load_model_at_server_start() -> None:
    """app.py's server-start hook (in a thread of its own): the model loads before the first visitor needs it.

    Without it the first page run of the process loads it, and every session arriving meanwhile (30 logins
    in the load test) waited behind that one load, even on the login page.
    """
    _WARMING.set()
    started = time.perf_counter()
    cached_model_service()
    _LOADED.set()
    import_what_pages_import()
    # Warning level: Python's last-resort handler prints it with no logging set up (the load test waits for it).
    logging.getLogger("cxr.startup").warning("%s %.1f s", MODEL_LOADED, time.perf_counter() - started)


def model_service() -> ModelService:
    """One model for every page and every session; loaded once per server process.

    The spinner (in the session's language) only around the first load: a spinner is an element, and one
    that came and went between reruns would shift every element after it.
    """
    if _LOADED.is_set():
        return _model_service()
    with st.spinner(_("Loading the classifier…")):
        service = _model_service()
    _LOADED.set()
    return service


def disclaimer() -> None:
    st.info(_(DISCLAIMER), icon=":material/school:")


def no_trained_model_notice() -> None:
    st.warning(
        _(
            "No trained model is installed (`weights/classifier.safetensors` is missing). "
            "The app runs an untrained placeholder so that its plumbing can be tried, and "
            "shows none of its output as a prediction."
        ),
        icon=":material/warning:",
    )


def sidebar(user=None) -> None:
    """The language switch (remembered for a logged-in user) and the notices every page carries."""
    # While the server-start load runs, the sidebar says so instead of waiting for it (the login page needs no model).
    service = model_service() if _LOADED.is_set() or not _WARMING.is_set() else None
    save = None
    if user is not None:
        from pages.auth_ui import save_language

        def save(chosen: str) -> None:
            save_language(user.id, chosen)

    language_switch(save)
    with st.sidebar:
        st.caption(_("CXR Teaching Lab — learn how a chest X-ray AI sees, and where it fails."))
        if service is None:
            st.caption(_("Model: loading…"))
        elif service.info.trained:
            st.caption(_("Model: ResNet34 · version `{version}`", version=service.version))
        else:
            st.caption(_("Model: **none trained** (placeholder)"))
        st.caption(_("Educational use only · not a medical device · does not diagnose."))
        from pages.demo_seed_ui import sidebar_status  # here: demo_seed_ui imports this module

        with st.container():  # always there, so the sidebar keeps its shape whether the seed runs or not
            sidebar_status()


MISSING = "—"


def translated_columns(rows: list[dict], shown: dict | None = None) -> list[dict]:
    """Rows a service built with N_-marked English column names, with the names in the session's language;
    `shown` maps a column to the function that shows its values (English keys) in that language too."""
    shown = shown or {}
    return [
        {_(column): shown[column](value) if column in shown else value for column, value in row.items()} for row in rows
    ]


def number_table(
    rows: list[dict], *, percent: tuple[str, ...] = (), decimals: dict[str, int] | None = None, key: str | None = None
) -> None:
    """A table whose numbers stay numbers: a missing figure is None in the data and "—" only on screen.

    A placeholder string inside a numeric column makes Arrow refuse the whole table.
    """
    config = {c: st.column_config.NumberColumn(format="percent") for c in percent}
    config |= {c: st.column_config.NumberColumn(format=f"%.{n}f") for c, n in (decimals or {}).items()}
    st.dataframe(rows, hide_index=True, key=key, column_config=config, placeholder=MISSING)
