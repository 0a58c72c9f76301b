"""The two crashes a class met at once: a page module imported half-initialised under concurrency,
and a placeholder string inside a numeric table column."""

from __future__ import annotations

import sys
import threading
import time

import pandas as pd
import pytest
from auth_support import TEST_PASSWORD, ensure_user
from test_db_pages import fill, library_env
from test_quiz_and_roles import app, log_in
from test_quiz_review_dashboard import _take, four_cases


class RerunRequested(Exception):
    """Stands in for Streamlit's rerun exception (outside a script run st.rerun does nothing)."""


def test_pages_common_is_never_left_half_imported_by_concurrent_sessions(monkeypatch):
    """Eight sessions import the shared page module at the same moment on a fresh server.

    If anything ends the import early (it used to call st.rerun() at import time to leave the
    `pages/` folder's v1 mode), every session waiting on the import lock receives the half-made
    module: "cannot import name 'sidebar' from 'pages.common'".
    """
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    def slow_rerun(*args, **kwargs):
        time.sleep(0.5)  # the other sessions are now blocked on the module's import lock
        raise RerunRequested

    monkeypatch.setattr(st, "rerun", slow_rerun)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)  # a fresh server with a pages/ folder
    monkeypatch.delitem(sys.modules, "pages.common", raising=False)
    start, errors, got = threading.Barrier(8), [], []

    def session():
        start.wait()
        try:
            from pages.common import sidebar

            got.append(sidebar)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(got) == 8
    # The switch to Home.py's router happens when a page runs, after every import has completed.
    assert PagesManager.uses_pages_directory is True
    from pages.common import route_through_home

    with pytest.raises(RerunRequested):
        route_through_home()
    assert PagesManager.uses_pages_directory is False
    route_through_home()  # once switched, a page just runs


def test_quiz_history_with_an_unanswered_quiz_renders_numbers(four_cases):
    """A quiz left without answers has no Brier score: None in the data, "—" on screen, no Arrow error."""
    engine, (a, b, c, e), truth, set_id = four_cases
    sam = ensure_user("sam", ["student"])
    _take(engine, sam, set_id, 3, {a: True, b: False, c: True})
    _take(engine, sam, set_id, 2)  # started, nothing answered
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    assert not at.exception, at.exception
    # The unanswered quiz is resumed where it stopped; ending it leads to the history.
    next(b for b in at.button if (b.key or "").startswith("quiz_end_")).click().run()
    assert not at.exception, at.exception
    history = at.dataframe[0]
    assert history.proto.placeholder == "—"
    table = history.value
    assert pd.api.types.is_float_dtype(table["Brier"]) and table["Brier"].isna().sum() == 1
    assert pd.api.types.is_float_dtype(table["accuracy"])


def test_dashboard_tables_keep_missing_figures_missing(four_cases):
    """No model output was stored (placeholder model): model accuracy is missing, not the text "—"."""
    engine, (a, b, c, e), truth, set_id = four_cases
    sam, kim = ensure_user("sam", ["student"]), ensure_user("kim", ["student"])
    _take(engine, sam, set_id, 3, {a: True, b: False, c: True})
    _take(engine, kim, set_id, 3, {a: False})
    _take(engine, kim, set_id, 2)  # kim's second quiz: nothing answered
    ensure_user("teacher", ["instructor"])
    at = log_in(app().run(), "teacher", TEST_PASSWORD)
    at.switch_page("pages/dashboard.py").run()
    assert not at.exception, at.exception
    tables = {t.proto.id: t for t in at.dataframe}
    assert all(t.proto.placeholder == "—" for t in tables.values())
    by_student = next(t.value for t in at.dataframe if "last quiz Brier" in t.value.columns)
    assert pd.api.types.is_float_dtype(by_student["accuracy"]) and pd.api.types.is_float_dtype(
        by_student["last quiz Brier"]
    )
    by_set = next(t.value for t in at.dataframe if "model accuracy" in t.value.columns)
    assert by_set["model accuracy"].isna().all() and pd.api.types.is_float_dtype(by_set["student accuracy"])
