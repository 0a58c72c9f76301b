"""What pages share about the case library: the engine and database-trouble messages (the demo seed: demo_seed_ui)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.safe_text import md
from core.settings import database_url
from db.engine import describe_url, ensure_library, session_scope
from db.errors import LibraryError, is_connection_problem, is_disk_full
from pages.i18n_ui import _, worded

T = TypeVar("T")


@st.cache_resource(show_spinner=False)  # the spinner, in the session's language, is library()'s
def _library(url: str) -> Engine:
    return ensure_library(url)


_opened: set[str] = set()  # library URLs this process has opened (the spinner is shown before the first only)


class Unavailable(Exception):
    """Raised inside `lost_connection_shown` after the message is shown; callers fall back to what they have."""


def unavailable_message(exc: BaseException) -> None:
    if is_disk_full(exc):
        st.error(
            _(
                "The case library's disk is full (`{url}`): nothing was saved, and what it already holds is "
                "intact. What you typed is still on this page — free some space, then try again.",
                url=describe_url(database_url()),
            ),
            icon=":material/hard_drive:",
        )
        return
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    st.error(
        _(
            "The case library at `{url}` cannot be reached right now ({reason}). Nothing was saved; what you "
            "typed is still on this page — try again when the database is back.",
            url=describe_url(database_url()),
            reason=md(reason[0]) if reason else type(exc).__name__,
        ),
        icon=":material/cloud_off:",
    )


@contextmanager
def lost_connection_shown() -> Iterator[None]:
    """Turn a lost database connection into a clear message (and Unavailable) instead of a traceback."""
    try:
        yield
    except LibraryError:
        raise
    except Exception as exc:
        if not is_connection_problem(exc):
            raise
        unavailable_message(exc)
        raise Unavailable from exc


def library() -> Engine | None:
    """The migrated library engine, or None after showing why it cannot be opened."""
    try:
        with lost_connection_shown():
            url = database_url()
            if url in _opened:
                return _library(url)
            with st.spinner(_("Opening the case library…")):  # only the first time: see common.model_service
                engine = _library(url)
            _opened.add(url)
            return engine
    except Unavailable:
        return None


def library_or_stop() -> Engine:
    """The library engine for a page that cannot work without it; otherwise the page ends after the message."""
    engine = library()
    if engine is None:
        st.stop()
    return engine


def run_with_progress(text: str, job: Callable[[Callable[[int, int], None]], object]) -> bool:
    """Run `job(progress)` under a progress bar reading "text… done/total"; False after a lost connection
    or a refusal (both shown).

    `text` is shown as it is: callers pass it translated (`_("Computing predictions")`).
    """
    bar = st.progress(0.0, text=f"{text}…")
    try:
        with lost_connection_shown():
            job(lambda done, total: bar.progress(done / total if total else 1.0, text=f"{text}… {done}/{total}"))
    except Unavailable:
        return False
    except LibraryError as exc:
        bar.empty()
        st.error(worded(exc), icon=":material/block:")
        return False
    return True


def session(engine: Engine, read_only: bool = False):
    return session_scope(engine, read_only=read_only)


def read_or_stop(engine: Engine, read: Callable[[Session], T]) -> T:
    """What `read` returns from one session; a lost connection or a refusal is shown and ends the run."""
    try:
        with lost_connection_shown(), session(engine, read_only=True) as s:
            return read(s)
    except Unavailable:
        st.stop()
    except LibraryError as exc:
        st.error(worded(exc), icon=":material/block:")
        st.stop()
    raise AssertionError("unreachable: st.stop() raises")


def write_shown(engine: Engine, write: Callable[[Session], object]) -> bool:
    """Run one library write; refusals and lost connections become messages, never a traceback."""
    try:
        with lost_connection_shown(), session(engine) as s:
            write(s)
    except Unavailable:
        return False
    except LibraryError as exc:
        st.error(worded(exc), icon=":material/block:")
        return False
    return True


def flash(key: str, kind: str, text: str) -> None:
    """A message that survives the st.rerun() after an action; `kind` is st.success, st.info, …"""
    st.session_state[key] = (kind, text)


def show_flash(key: str) -> None:
    kind, text = st.session_state.pop(key, (None, None))
    if kind:
        getattr(st, kind)(text)


def current_model_version(service) -> str | None:
    """Predictions are shown for the installed trained model only — never for the placeholder."""
    return service.version if service.info.trained else None


def first_page_when_filters_change(prefix: str, filters) -> None:
    """New filters, sort or page size start on page 1 (keys `<prefix>sort`, `<prefix>per_page`, `<prefix>page`)."""
    signature = (repr(filters), st.session_state.get(f"{prefix}sort"), st.session_state.get(f"{prefix}per_page"))
    key = f"_{prefix}signature"
    if st.session_state.get(key) != signature:
        if key in st.session_state:  # a change; the first look keeps its page (a shared address may name one)
            st.session_state[f"{prefix}page"] = 1
        st.session_state[key] = signature


def paging(prefix: str, default_sort: str, default_per_page: int) -> dict:
    """The sort, page and page size chosen with keys `<prefix>sort`, `<prefix>page`, `<prefix>per_page`."""
    return {
        "sort": st.session_state.get(f"{prefix}sort", default_sort),
        "page": st.session_state.get(f"{prefix}page", 1),
        "per_page": st.session_state.get(f"{prefix}per_page", default_per_page),
    }


def show_page_position(page, empty_text: str | None = None) -> None:
    """ "N cases match · showing a–b · page p of q", and a notice when the page has no rows.

    `empty_text`, when given, is shown as it is (callers translate it).
    """
    first = (page.page - 1) * page.per_page + 1
    st.caption(
        _(
            "{total} cases match · showing {first}–{last} · page {page} of {pages}",
            total=page.total,
            first=min(first, page.total),
            last=first + len(page.rows) - 1,
            page=page.page,
            pages=page.pages,
        )
    )
    if not page.rows:
        st.info((empty_text or _("No case matches these filters.")) if page.total == 0 else _("This page is empty."))
