"""The background demo seed as pages show it: a live bar in the sidebar and on the Case Gallery.

The job itself is core/services/demo_seed.py: one per server process, started when the server starts
(app.py) or, at the latest, by the first page any session opens. No page waits for it; a fragment
re-reads its progress every few seconds without rerunning the page around it.
"""

from __future__ import annotations

import streamlit as st

from core.services.demo_seed import DemoSeedJob, SeedProgress, State, start_demo_seed
from core.settings import database_url
from db.errors import LibraryError
from pages.auth_ui import VERIFIED_KEY
from pages.common import cached_model_service
from pages.i18n_ui import _, ngettext, worded
from pages.library_ui import Unavailable, lost_connection_shown

SIDEBAR_EVERY = 3.0  # seconds between the sidebar bar's updates
GALLERY_EVERY = 2.0
SHOWN_KEY = "_demo_seed_shown"  # the `done` figure the gallery's last full run showed
FOLLOW_KEY = "demo_seed_follow"


def seeding_job() -> DemoSeedJob | None:
    """This server's demo seed (started here if the server start did not); None when seeding is off."""
    return start_demo_seed(database_url(), cached_model_service)


def start_at_server_start() -> None:
    """app.py's server-start hook."""
    seeding_job()


def _bar_text(p: SeedProgress) -> str:
    if not p.total or p.state == State.STARTING:
        return _("Adding demo cases…")
    if p.limits_total and p.done >= p.total:
        return _("Demo cases added; model-limit figures: {done}/{total}", done=p.limits_done, total=p.limits_total)
    return _("Adding demo cases: {done}/{total}", done=p.done, total=p.total)


def _bar_share(p: SeedProgress) -> float:
    if p.limits_total and p.done >= p.total:
        return min(p.limits_done / p.limits_total, 1.0)
    return p.share


def _failure(job: DemoSeedJob, p: SeedProgress, key: str) -> None:
    st.error(
        _(
            "The demo cases could not be added to the library ({reason}). The cases added so far are kept; "
            "try again once the library is reachable.",
            reason=p.error or "?",
        ),
        icon=":material/error:",
    )
    user = st.session_state.get(VERIFIED_KEY)
    if user is None or not user.can("instructor"):
        return  # the server retries at its next start; an instructor may retry now
    if st.button(_("Try again"), key=key, icon=":material/refresh:"):
        try:
            with lost_connection_shown():
                job.retry(user.id)  # checked in the library again
        except Unavailable:
            return
        except LibraryError as exc:
            st.error(worded(exc), icon=":material/block:")
            return
        st.rerun()


def _sidebar_live(job: DemoSeedJob) -> None:
    p = job.progress()
    if p.active:
        st.progress(_bar_share(p), text=_bar_text(p))
    elif p.state == State.DONE:
        # Shown until the next rerun of the page; then nothing, and the bar stops updating.
        st.caption(
            ngettext("Demo library ready: {n} case added.", "Demo library ready: {n} cases added.", p.added)
            if p.batches  # this server seeded it; otherwise another did, and only it knows its count
            else _("Demo library ready.")
        )
    elif p.state == State.FAILED:
        st.caption(_("Adding the demo cases stopped: see the Case Gallery, or try again."))


def sidebar_status() -> None:
    """Inside `with st.sidebar`: the seed's progress while it runs, its failure with a retry."""
    job = seeding_job()
    if job is None:
        return
    p = job.progress()
    if p.active:
        st.fragment(run_every=SIDEBAR_EVERY)(_sidebar_live)(job)
    elif p.state == State.FAILED:
        _failure(job, p, key="demo_seed_retry_sidebar")


def _gallery_live(job: DemoSeedJob) -> None:
    p = job.progress()
    if p.active:
        st.progress(_bar_share(p), text=_bar_text(p))
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    follow = c1.toggle(
        _("Show new cases as they arrive"),
        value=True,
        key=FOLLOW_KEY,
        help=_("The demo cases are added in the background; the gallery below shows the ones added so far."),
    )
    refresh = c2.button(_("Refresh"), key="demo_seed_refresh", icon=":material/refresh:")
    changed = p.done != st.session_state.get(SHOWN_KEY)
    if refresh or not p.active or (follow and changed):
        st.rerun()  # the whole page, with the cases added since


def gallery_status() -> SeedProgress | None:
    """Above the gallery: the live bar while seeding (the cases shown are those added so far), or its failure."""
    job = seeding_job()
    if job is None:
        return None
    p = job.progress()
    if p.state == State.FAILED:
        _failure(job, p, key="demo_seed_retry_gallery")
    elif p.active:
        st.session_state[SHOWN_KEY] = p.done
        st.fragment(run_every=GALLERY_EVERY)(_gallery_live)(job)
    return p
