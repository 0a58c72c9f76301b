"""The Explanation Lab grid: every method's map of one X-ray, side by side, on one colour scale.

Used by the Explain page, the Analyze page and a library case's detail view. Maps come from
core.services.explanations: stored ones are read back, fast ones are computed once on first view,
slow ones on request (with a progress bar; any click during the run cancels it). A rerun of the
page (target, colour map, opacity, the large card) computes nothing.
"""

from __future__ import annotations

import streamlit as st

from core.analysis import Analysis
from core.explain.display import COLOUR_MAPS, colour_scale, map_overlay
from core.explain.methods import FAMILIES, METHODS
from core.explain.methods.notes import METHOD_NOTES
from core.formatting import number, share
from core.services.explanations import (
    ExplainedMap,
    Subject,
    compute_explanations,
    stored_explanations,
    subject_from_analysis,
    subject_from_case,
)
from core.vocabulary import CLASS_NAMES
from db.errors import LibraryError
from pages.auth_ui import acting_user_id
from pages.common import model_service
from pages.i18n_ui import N_, _, language, shown_as, worded
from pages.library_ui import Unavailable, library, lost_connection_shown, session
from pages.trust_panel import card_trust

CACHE = "explain_maps"  # session_state: maps of this session (the only copy for uploads not in the library)
FAMILY_TITLES = {
    "activation": N_("activation-based"),
    "gradient": N_("gradient-based"),
    "relevance": N_("relevance propagation"),
    "perturbation": N_("perturbation-based"),
}
COLUMNS = 4


def _ordered() -> list[str]:
    return sorted(METHODS, key=lambda m: (FAMILIES.index(METHODS[m].family), list(METHODS).index(m)))


def _family(family: str) -> str:
    return _(FAMILY_TITLES[family]) if family in FAMILY_TITLES else family


def _share(value) -> str:
    return "—" if value is None else share(value, 0, language())


def _ms(milliseconds: float) -> str:
    return number(milliseconds, 0, language()) + " ms"


def _card_caption(result: ExplainedMap) -> str:
    method = METHODS[result.method]
    shares = result.summary["shares"]
    where = _(
        "lungs {lungs} · border {border}", lungs=_share(shares["lung_share"]), border=_share(shares["border_share"])
    )
    cost = _("{ms} (stored)", ms=_ms(result.milliseconds)) if result.stored else _ms(result.milliseconds)
    return f"**{method.name}** · {_family(method.family)} · {cost}\n\n{where}"


def _params_text(params: dict) -> str:
    return ", ".join(f"`{k} = {v}`" for k, v in params.items()) or _("none")


def analysis_subject(analysis: Analysis) -> Subject:
    """The Analyze page's result as a subject; looked up in the library once per analysis, not per rerun."""
    cached = st.session_state.get("explain_analysis_subject")
    if cached is None or cached[0] is not analysis:
        engine = library()
        try:
            with lost_connection_shown():
                subject = subject_from_analysis(analysis, engine)
        except Unavailable:
            subject = subject_from_analysis(analysis)
        st.session_state["explain_analysis_subject"] = (analysis, subject)
    return st.session_state["explain_analysis_subject"][1]


def case_subject(engine, case_id: int) -> Subject | None:
    """A library case as a subject, read once per case and model (None after a shown database problem)."""
    service = model_service()
    key = (case_id, service.version)
    cached = st.session_state.get("explain_case_subject")
    if cached is None or cached[0] != key:
        try:
            with lost_connection_shown(), session(engine) as s:
                st.session_state["explain_case_subject"] = (key, subject_from_case(s, service, case_id))
        except Unavailable:
            return None
        except LibraryError as exc:
            st.error(worded(exc), icon=":material/block:")
            return None
    return st.session_state["explain_case_subject"][1]


def explanation_grid(subject: Subject, key: str) -> None:
    service = model_service()
    if not service.info.trained:
        st.info(_("No trained model is installed, so there is nothing to explain."), icon=":material/info:")
        return
    engine = None
    if subject.image_id is not None:
        engine = library()  # None after a message: the maps are then kept for this session only
    cache = st.session_state.setdefault(CACHE, {})

    other = next(c for c in CLASS_NAMES if c != subject.predicted)
    controls = st.columns([2, 2, 2])
    targets = {
        subject.predicted: _("{label} (the model's output)", label=subject.predicted),
        other: _("{label}: what would say {label}?", label=other),
    }
    target = controls[0].radio(
        _("Explain which class?"),
        [subject.predicted, other],
        format_func=targets.get,
        key=f"{key}_target",
        horizontal=True,
    )
    colour_map = controls[1].selectbox(
        _("Colour map"), list(COLOUR_MAPS), format_func=shown_as(COLOUR_MAPS), key=f"{key}_cmap"
    )
    opacity = controls[2].slider(_("Map opacity"), 0.0, 1.0, 0.6, 0.05, key=f"{key}_opacity")
    st.image(colour_scale(colour_map, 512, 10), width="stretch")
    st.caption(
        _(
            "Every card uses the same scale: the map's positive part (for signed maps, the evidence *for* the "
            "class), divided by its 99th percentile, from none (left) to strong (right). The green line is the "
            "lung outline."
        )
    )

    ordered = _ordered()
    slow = _("slow")
    maps: dict = {}
    try:
        with lost_connection_shown():
            maps = stored_explanations(engine, service, subject, target, ordered, cache)
            fast_missing = [m for m in ordered if not METHODS[m].slow and m not in maps]
            if fast_missing:
                bar = st.progress(0.0, text=_("Computing {n} fast maps once; they are kept…", n=len(fast_missing)))
                maps |= compute_explanations(
                    engine,
                    acting_user_id(),
                    service,
                    subject,
                    target,
                    fast_missing,
                    cache,
                    progress=lambda f: bar.progress(f, text=_("Computing the fast maps… {share}", share=_share(f))),
                )
                bar.empty()
            requested = st.session_state.get(f"{key}_slow")
            if requested in METHODS and requested not in maps:
                _run_slow(engine, service, subject, target, requested, cache, maps, key)
    except Unavailable:
        pass  # the message is shown; what is already here stays on the page
    except LibraryError as exc:  # the library refused to keep them (the account was just deactivated)
        st.error(worded(exc), icon=":material/block:")

    for start in range(0, len(ordered), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, name in zip(cols, ordered[start : start + COLUMNS]):
            method = METHODS[name]
            with col.container(border=True):
                result = maps.get(name)
                if result is None:
                    st.markdown(f"**{name}** · {_family(method.family)} · {slow}")
                    st.caption(_(method.computes))
                    if st.button(_("Compute"), key=f"{key}_compute_{name}", icon=":material/play_arrow:"):
                        st.session_state[f"{key}_slow"] = name
                        st.rerun()
                    continue
                st.image(
                    map_overlay(subject.gray224, result.map, colour_map, opacity, subject.lung_mask), width="stretch"
                )
                st.markdown(_card_caption(result))
                st.caption(_(method.computes))

    shown = [m for m in ordered if m in maps]
    if shown:
        _large_card(subject, maps, shown, colour_map, opacity, key)


def _run_slow(engine, service, subject, target, name, cache, maps, key) -> None:
    """One slow method, now. A click anywhere (the Cancel button included) stops it: Streamlit reruns."""
    st.session_state.pop(f"{key}_slow", None)  # a cancelled run is not restarted by the next rerun
    box = st.container(border=True)
    box.markdown(
        _(
            "**Computing {name}** ({family}): {computes}",
            name=name,
            family=_family(METHODS[name].family),
            computes=_(METHODS[name].computes),
        )
    )
    bar = box.progress(0.0, text=_("{name}: starting…", name=name))
    box.button(_("Cancel"), key=f"{key}_cancel", icon=":material/stop:")
    maps |= compute_explanations(
        engine,
        acting_user_id(),
        service,
        subject,
        target,
        [name],
        cache,
        progress=lambda f: bar.progress(f, text=f"{name}: {_share(f)}"),
    )
    box.empty()


def _large_card(subject: Subject, maps: dict, shown: list[str], colour_map: str, opacity: float, key: str) -> None:
    st.markdown("#### " + _("One map, large, with its method card"))
    name = st.selectbox(_("Open a card large"), shown, key=f"{key}_large")
    method, result, notes = METHODS[name], maps[name], METHOD_NOTES[name]
    left, right = st.columns([3, 2])
    left.image(map_overlay(subject.gray224, result.map, colour_map, opacity, subject.lung_mask), width="stretch")
    shares = result.summary["shares"]
    peak = result.summary["peak"]
    peak_text = (
        _("none (no positive evidence)")
        if peak is None
        else _("row {row}, column {col}", row=peak["row"], col=peak["col"])
    )
    card = (  # the card's labels and the method's texts in the session's language; the paper as published
        (_("What it computes."), _(method.computes)),
        (_("Good at."), _(notes.good)),
        (_("Bad at."), _(notes.bad)),
        (_("Parameters."), _params_text(result.params)),
        (_("From the map to this picture."), _(method.reduction)),
        (_("Library."), f"`{method.library}`"),
        (_("Paper."), method.citation),
    )
    right.markdown(
        f"**{name}** — {_family(method.family)}\n\n" + "\n\n".join(f"**{label}** {text}" for label, text in card)
    )
    right.markdown(
        _(
            "- cost: {ms} on this machine\n"
            "- peak: {peak}\n"
            "- on the lungs: {lungs}, border frame: {border}, markers: {markers}",
            ms=_ms(result.milliseconds),
            peak=peak_text,
            lungs=_share(shares["lung_share"]),
            border=_share(shares["border_share"]),
            markers=_share(shares["marker_share"]),
        )
    )
    card_trust(subject, name, result.target, colour_map, opacity, key)
