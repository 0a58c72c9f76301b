"""Model Limits: where the model's heatmap strays from the lungs, its shortcut flags and reviewers' verdicts.

Thin layer: the figures were computed once by core.explain.limits and stored with the prediction; this page
reads them from db.limits, draws them (core.explain) and records reviewers' verdicts and tags.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.explain.limits import FLAG_TITLES, blank_outside, lung_contour_overlay, unpack_mask
from core.explain.markers import erase_markers
from core.formatting import number, percent, share, signed_number
from core.safe_text import md, md_code
from core.teaching.set_rules import may_change_set
from core.vocabulary import LIMIT_FLAGS, REVIEW_TAGS, outcome
from db import limits as lim
from db import repository as repo
from db import teaching
from db.codec import decode_png
from db.errors import LibraryError
from pages import library_ui as ui
from pages.auth_ui import require_role
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.i18n_ui import N_, _, choices_placeholder, language, outcome_name, shown_as, worded
from pages.library_ui import (
    Unavailable,
    current_model_version,
    first_page_when_filters_change,
    library_or_stop,
    lost_connection_shown,
    session,
    show_page_position,
)
from pages.limits_panel import FLAG_NAMES, TAG_NAMES, region_name, tag_name

viewer = require_role("reviewer")  # server-side: a user without the role gets this message and nothing else

ANY = N_("Any")
ERROR_CHOICES = {ANY: None, **{label: key for key, label in lim.ERROR_TYPES.items()}}
REVIEW_CHOICES = {ANY: None, **{label: key for key, label in lim.REVIEW_STATES.items()}}
# db.limits' English labels (the widgets' values) → their msgids; db/ has no catalogue, the page translates.
ERROR_NAMES = {"correct": N_("Correct"), "false_positive": N_("False positive"), "false_negative": N_("False negative")}
REVIEW_NAMES = {
    "unreviewed": N_("Has an unreviewed flag"),
    "confirmed": N_("A flag confirmed"),
    "rejected": N_("A flag rejected"),
}
ERROR_LABELS = {ANY: ANY, **{lim.ERROR_TYPES[k]: v for k, v in ERROR_NAMES.items() if k in lim.ERROR_TYPES}}
REVIEW_LABELS = {ANY: ANY, **{lim.REVIEW_STATES[k]: v for k, v in REVIEW_NAMES.items() if k in lim.REVIEW_STATES}}
SORT_NAMES = {
    "lung_share": N_("Heatmap furthest from the lungs first (lowest in-lung share)"),
    "marker_delta": N_("Largest change in P(pneumonia) when the marker is erased first"),
}
VERDICT_NAMES = {"confirmed": N_("confirmed"), "rejected": N_("rejected")}
NEW_SET_NAME = N_("Model limits")  # the teaching set a reviewer may start here, named in their language
OUTCOME_COLOURS = {"correct": "#2e7d32", "wrong": "#c62828"}
COLUMNS = 2
CASE_KEY = "limits_case"


def flag_title(flag: str) -> str:
    return _(FLAG_NAMES[flag]) if flag in FLAG_NAMES else FLAG_TITLES.get(flag, flag)


def verdict_name(verdict: str) -> str:
    return _(VERDICT_NAMES[verdict]) if verdict in VERDICT_NAMES else verdict


def pct(value: float) -> str:
    return share(float(value), 0, lang)


st.title(_("Model Limits"))
disclaimer()
lang = language()
st.caption(
    _(
        "Where does the model look when it decides? Each case below shows how much of its Grad-CAM heatmap "
        'lies inside the lung fields, on the image border, or on burned-in markers such as the "R". '
        "Rule-based flags point at likely shortcuts; reviewers confirm or reject them."
    )
)
service = model_service()
model_version = current_model_version(service)
engine = library_or_stop()
if model_version is None:
    no_trained_model_notice()
    st.info(
        _(
            "The Model Limits gallery shows the figures stored with the installed trained model's predictions, "
            "so it stays empty until a trained model is installed."
        ),
        icon=":material/flag:",
    )
    st.stop()


FLASH_KEY = "limits_flash"


def flash(kind: str, text: str) -> None:
    ui.flash(FLASH_KEY, kind, text)


def show_flash() -> None:
    ui.show_flash(FLASH_KEY)


def reviewer_name() -> str:
    """Checks the role again on the server right before a write; returns who is writing."""
    return require_role("reviewer").name


def act(fn, success: str) -> bool:
    """Run a library write as the current reviewer; on success, say so after the rerun."""
    who = reviewer_name()
    done = ui.write_shown(engine, lambda s: fn(s, who))
    if done:
        flash("success", success)
    return done


with_figures, without_figures = ui.read_or_stop(
    engine, lambda s: (lim.count_with_limits(s, model_version), repo.count_without_limits(s, model_version))
)


def compute_missing_figures() -> None:
    """The same back-fill as `python -m db limits`, from the page (reviewers only)."""
    from core.services.library_import import backfill_limits

    require_role("reviewer")
    if service.segmenter is None:
        st.error(_("No lung segmenter is installed (`weights/lungs.safetensors`), so the figures cannot be computed."))
        return
    if not ui.run_with_progress(
        _("Computing the model-limits figures"),
        lambda progress: backfill_limits(engine, viewer.id, service, progress=progress),
    ):
        st.stop()
    st.rerun()


if without_figures and st.button(
    _("Compute the missing figures now ({n} predictions)", n=without_figures),
    key="limits_backfill",
    icon=":material/calculate:",
):
    compute_missing_figures()
if with_figures == 0:
    st.info(
        (
            _(
                "No prediction of the installed model (`{version}`) carries model-limits figures yet "
                "({n} predictions are waiting for them).",
                version=model_version,
                n=without_figures,
            )
            if without_figures
            else _(
                "No prediction of the installed model (`{version}`) carries model-limits figures yet.",
                version=model_version,
            )
        )
        + " "
        + _(
            "Compute them — lung fields, heatmap shares, markers, counterfactuals and flags — with "
            "`python -m db limits`, then reload this page."
        ),
        icon=":material/flag:",
    )
    st.stop()
if without_figures:
    st.caption(
        _(
            "{with_figures} predictions have figures; {without} do not yet (`python -m db limits` adds them).",
            with_figures=with_figures,
            without=without_figures,
        )
    )


# ---------- drawing ----------------------------------------------------------------------------


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def contour(gray: np.ndarray, packed_mask: bytes | None) -> np.ndarray | None:
    if packed_mask is None:
        return None
    return lung_contour_overlay(rgb(gray), unpack_mask(packed_mask))


def three_views(gray: np.ndarray, cam: np.ndarray, packed_mask: bytes | None, cam_target: str) -> None:
    from core.explain.gradcam import render_overlay

    cols = st.columns(3)
    cols[0].image(gray, caption=_("Original"), width="stretch")
    cols[1].image(render_overlay(gray, cam), caption=f"Grad-CAM ({cam_target})", width="stretch")
    outline = contour(gray, packed_mask)
    if outline is None:
        cols[2].caption(_("No lung mask stored."))
    else:
        cols[2].image(outline, caption=_("Lung fields"), width="stretch")


def badge(colour: str, text: str, icon: str = "") -> str:
    """Markdown badge; square brackets in the text would end it early."""
    text = text.replace("[", "(").replace("]", ")")
    return f":{colour}-badge[{icon + ' ' if icon else ''}{text}]"


def share_badges(limits: dict) -> list[str]:
    lung = float(limits.get("lung_share", 0.0))
    colour = "green" if lung >= 0.6 else "orange" if lung >= 0.4 else "red"
    return [
        badge(colour, _("In lungs {share}", share=pct(lung)), ":material/pulmonology:"),
        badge("gray", _("Border {share}", share=pct(limits.get("border_share") or 0))),
        badge("gray", _("Marker {share}", share=pct(limits.get("marker_share") or 0))),
    ]


def flag_badges(flags: list[str], verdicts: dict) -> list[str]:
    if not flags:
        return [badge("green", _("No flag"), ":material/check:")]
    out = []
    for flag in flags:
        verdict = verdicts.get(flag)
        if verdict is None:
            out.append(badge("orange", flag_title(flag), ":material/flag:"))
        elif verdict.verdict == "confirmed":
            out.append(badge("red", f"{flag_title(flag)} · {verdict_name('confirmed')}", ":material/check_circle:"))
        else:
            out.append(badge("gray", f"{flag_title(flag)} · {verdict_name('rejected')}", ":material/cancel:"))
    return out


def show_badges(limits: dict, flags: list[str], verdicts: dict) -> None:
    st.markdown(" ".join(share_badges(limits)) + "  \n" + " ".join(flag_badges(flags, verdicts)))


def outcome_line(truth: str | None, predicted: str, probability: float) -> str:
    verdict = outcome(truth, predicted)
    tail = f" · **{outcome_name(verdict)}**" if verdict else ""
    return (
        _(
            "Truth {truth} · model {predicted} (P(pneumonia) {p})",
            truth=truth or _("unlabelled"),
            predicted=predicted,
            p=percent(probability, language=lang),
        )
        + tail
    )


# ---------- the gallery --------------------------------------------------------------------------


def open_case(case_id: int) -> None:
    st.session_state[CASE_KEY] = case_id


def current_filters() -> lim.LimitsFilter:
    g = st.session_state.get
    return lim.LimitsFilter(
        flags=list(g("lim_f_flags", [])),
        tags=list(g("lim_f_tags", [])),
        error=ERROR_CHOICES[g("lim_f_error", ANY)],
        review=REVIEW_CHOICES[g("lim_f_review", ANY)],
    )


def show_gallery() -> None:
    show_flash()
    with st.expander(_("Filters and sort"), expanded=True, icon=":material/filter_list:"):
        row = st.columns(4)
        row[0].multiselect(
            _("Flags (any of)"),
            LIMIT_FLAGS,
            format_func=shown_as(FLAG_NAMES, lambda f: FLAG_TITLES.get(f, f)),
            key="lim_f_flags",
            placeholder=choices_placeholder(LIMIT_FLAGS),
        )
        row[1].multiselect(
            _("Reviewer tags (any of)"),
            REVIEW_TAGS,
            format_func=shown_as(TAG_NAMES),
            key="lim_f_tags",
            placeholder=choices_placeholder(REVIEW_TAGS),
        )
        row[2].selectbox(
            _("Correct / error"), list(ERROR_CHOICES), format_func=shown_as(ERROR_LABELS), key="lim_f_error"
        )
        row[3].selectbox(
            _("Review state"),
            list(REVIEW_CHOICES),
            format_func=shown_as(REVIEW_LABELS),
            key="lim_f_review",
            help=_("About the flags filtered on (all flags when none is chosen)."),
        )
        row = st.columns(4)
        row[0].selectbox(
            _("Sort"),
            list(lim.LIMITS_SORTS),
            format_func=shown_as(SORT_NAMES, lim.LIMITS_SORTS.get),
            key="lim_f_sort",
        )
        row[1].selectbox(_("Per page"), [6, 12, 24], index=1, key="lim_f_per_page")

    filters = current_filters()
    first_page_when_filters_change("lim_f_", filters)
    page = ui.read_or_stop(
        engine, lambda s: lim.limits_page(s, filters, model_version, **ui.paging("lim_f_", "lung_share", 12))
    )

    show_page_position(page)
    for start in range(0, len(page.rows), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), page.rows[start : start + COLUMNS]):
            with col.container(border=True, key=f"lim_card_{row.case_id}"):
                st.markdown(f"**#{row.case_id} {md(row.title)}**")
                st.caption(outcome_line(row.truth_label, row.predicted, row.probability))
                three_views(decode_png(row.thumbnail), row.cam, row.lung_mask, row.predicted)
                show_badges(row.limits, row.flags, row.verdicts)
                if row.tags:
                    st.caption(_("Reviewer tags: {tags}", tags=" ".join(md_code(tag_name(t)) for t in row.tags)))
                st.button(_("Open"), key=f"lim_open_{row.case_id}", on_click=open_case, args=(row.case_id,))
    if st.session_state.get("lim_f_page", 1) > page.pages:
        st.session_state["lim_f_page"] = page.pages
    st.number_input(_("Page"), 1, page.pages, key="lim_f_page", step=1)


# ---------- one case -----------------------------------------------------------------------------


def probability_text(p) -> str:
    return "—" if p is None else percent(p, language=lang)


def delta_text(d) -> str | None:
    return None if d is None else _("{delta} points", delta=signed_number(float(d) * 100, 1, lang))


def where_the_heat_is(limits: dict) -> go.Figure:
    parts = {
        N_("Lungs"): "lung_share",
        N_("Border frame"): "border_share",
        N_("Markers"): "marker_share",
        N_("Mediastinum"): "mediastinum_share",
        N_("Below the diaphragm"): "below_diaphragm_share",
    }
    names = [n for n, k in parts.items() if limits.get(k) is not None]
    fig = go.Figure(
        go.Bar(
            x=[float(limits[parts[n]]) for n in names],
            y=[_(n) for n in names],
            orientation="h",
            text=[pct(limits[parts[n]]) for n in names],
            textposition="auto",
        )
    )
    fig.update_layout(
        height=260,
        margin=dict(l=10, r=10, t=30, b=10),
        title=_("Share of the heatmap's mass"),
        xaxis=dict(range=[0, 1], tickformat=".0%"),
    )
    return fig


def show_counterfactuals(detail: lim.LimitsDetail, gray: np.ndarray) -> None:
    from core.imaging.preprocess import resize_gray

    limits = detail.limits
    probe = limits.get("counterfactual") or {}
    model_input = resize_gray(gray)  # what the model saw (224×224); marker boxes are in its coordinates
    markers = [list(map(int, b)) for b in limits.get("markers") or []]
    st.markdown("#### " + _("Counterfactuals: change the image, ask the model again"))
    st.caption(
        _(
            "Stored when the figures were computed: the model re-ran on these images. A large change when the "
            "marker is erased means the model leaned on the marker, not on the lungs."
        )
    )
    cols = st.columns(3)
    cols[0].image(model_input, caption=_("Model input"), width="stretch")
    cols[0].metric(_("P(pneumonia)"), probability_text(detail.probability))

    def changed(col, image, caption: str, label: str, key: str) -> None:
        col.image(image, caption=caption, width="stretch")
        col.metric(
            label,
            probability_text(probe.get(f"p_{key}")),
            delta_text(probe.get(f"{key.split('_')[0]}_delta")),
            delta_color="off",
        )

    if markers:
        changed(
            cols[1],
            erase_markers(model_input, markers),
            _("Marker erased ({n} box(es))", n=len(markers)),
            _("P(pneumonia), marker erased"),
            "marker_erased",
        )
    else:
        cols[1].info(_("No burned-in marker was detected, so there is nothing to erase."))
    if detail.lung_mask is not None:
        changed(
            cols[2],
            blank_outside(model_input, unpack_mask(detail.lung_mask)),
            _("Everything outside the lungs blanked"),
            _("P(pneumonia), outside blanked"),
            "outside_blanked",
        )
    else:
        cols[2].info(_("No lung mask stored for this case."))


def show_faithfulness(limits: dict) -> None:
    faith = limits.get("faithfulness") or {}
    if not faith:
        return
    st.markdown("#### " + _("Faithfulness of the heatmap"))
    st.caption(
        _(
            "Deletion: remove the hottest pixels first — a faithful map makes P(pneumonia) fall fast (low area). "
            "Insertion: add them first to a blank image — it should rise fast (high area)."
        )
    )
    cols = st.columns(3)
    for col, (label, key) in zip(
        cols,
        (
            (_("Deletion area (lower is better)"), "deletion_auc"),
            (_("Insertion area (higher is better)"), "insertion_auc"),
            (_("Faithfulness score"), "score"),
        ),
    ):
        value = faith.get(key)
        col.metric(label, "—" if value is None else number(value, 2, lang))


def show_reviews(detail: lim.LimitsDetail) -> None:
    st.markdown("#### " + _("Flags: confirm or reject"))
    flags = list(detail.limits.get("flags") or [])
    if not flags:
        st.caption(_("The rules raised no flag on this case."))
    for flag in flags:
        with st.container(border=True):
            c = st.columns([4, 1, 1])
            latest = detail.verdicts.get(flag)
            c[0].markdown(f"**{flag_title(flag)}**")
            c[0].caption(
                _("Not reviewed yet.")
                if latest is None
                else _(
                    "Latest: **{verdict}** by {reviewer} on {when}",
                    verdict=verdict_name(latest.verdict),
                    reviewer=md(latest.reviewer),
                    when=repo.as_datetime_text(latest.reviewed_at),
                )
            )
            for col, verdict, label in ((c[1], "confirmed", _("Confirm")), (c[2], "rejected", _("Reject"))):
                if col.button(label, key=f"lim_{verdict}_{detail.case_id}_{flag}"):
                    if act(
                        lambda s, who, f=flag, v=verdict: lim.review_flag(
                            s, viewer.id, detail.case_id, model_version, f, v, who
                        ),
                        f"{flag_title(flag)}: {verdict_name(verdict)}.",
                    ):
                        st.rerun()
    if detail.history:
        with st.expander(_("Review history ({n})", n=len(detail.history))):
            st.table(
                [
                    {
                        _("flag"): flag_title(f),
                        _("verdict"): verdict_name(v),
                        _("reviewer"): md(who),
                        _("when"): repo.as_datetime_text(when),
                    }
                    for f, v, who, when in detail.history
                ]
            )


def show_tags(detail: lim.LimitsDetail) -> None:
    st.markdown("#### " + _("Your tags"))
    key = f"lim_tagsel_{detail.case_id}"
    st.session_state.setdefault(key, list(detail.tags))
    c = st.columns([4, 1])
    c[0].multiselect(
        _("What the heatmap sits on"),
        REVIEW_TAGS,
        format_func=shown_as(TAG_NAMES),
        key=key,
        placeholder=choices_placeholder(REVIEW_TAGS),
    )
    if c[1].button(_("Save tags"), key=f"lim_tags_save_{detail.case_id}"):
        wanted = list(st.session_state[key])
        if act(lambda s, who: lim.set_limit_tags(s, viewer.id, detail.case_id, wanted, who), _("Tags saved.")):
            st.rerun()


def show_teaching(detail: lim.LimitsDetail) -> None:
    st.markdown("#### " + _("Teaching"))
    try:
        with lost_connection_shown(), session(engine) as s:
            all_sets = teaching.list_sets(s)
            member = {x.id for x in teaching.sets_for_case(s, detail.case_id)}
    except Unavailable:
        return
    sets = {x.name: x.id for x in all_sets}
    # Offered: the sets this user may change (a published one only an instructor); the service checks again.
    names = [x.name for x in all_sets if x.id not in member and may_change_set(viewer.roles, x.published)]
    new_label = f"New set “{NEW_SET_NAME}”"  # the choice's value; shown in the session's language
    new_name = _(NEW_SET_NAME)
    if new_name.lower() not in {n.lower() for n in sets}:
        names.append(new_label)
    if member:
        st.caption(_("In: {sets}", sets=", ".join(md(n) for n, i in sets.items() if i in member)))
    if not names:
        st.caption(_("This case is in every teaching set already."))
        return
    c = st.columns([4, 1])
    target = c[0].selectbox(
        _("Teaching set"),
        names,
        format_func=lambda n, shown=_("New set “{name}”", name=new_name): shown if n == new_label else n,
        key=f"lim_set_target_{detail.case_id}",
    )
    if c[1].button(_("Add to set"), key=f"lim_add_set_{detail.case_id}", icon=":material/playlist_add:"):

        def add(s, _who):
            set_id = (
                teaching.create_set(s, viewer.id, new_name, _("Cases where the model looked at the wrong thing.")).id
                if target == new_label
                else sets[target]
            )
            teaching.add_to_set(s, viewer.id, set_id, [detail.case_id])

        added_to = new_name if target == new_label else target
        if act(add, _("Added case #{id} to {name}.", id=detail.case_id, name=md(added_to))):
            st.rerun()


def limits_viewer(detail, gray: np.ndarray) -> None:
    """The case in the viewer: Grad-CAM, lung outline (green) and detected markers (pink) on the stored image."""
    from core.analysis import DISCLAIMER
    from core.exports.case_figures import case_figures, figures_json
    from pages.image_viewer import Downloads, image_viewer

    image_viewer(
        gray,
        key=f"lim_view_{detail.case_id}",
        caption=_("Grad-CAM ({target}), lung fields (green) and detected markers (pink)", target=detail.cam_target),
        cam=detail.cam,
        lung_mask=None if detail.lung_mask is None else unpack_mask(detail.lung_mask),
        marker_boxes=list(detail.limits.get("markers") or []),
        downloads=Downloads(
            file_stem=f"case-{detail.case_id}-limits",
            model_version=model_version,
            figures_json=figures_json(
                case_figures(
                    notice=_(DISCLAIMER),
                    source={"kind": "library", "case_id": detail.case_id},
                    label=detail.predicted,
                    probability=detail.probability,
                    model_version=model_version,
                    cam_target=detail.cam_target,
                    cam=detail.cam,
                    limits=detail.limits,
                    truth_label=detail.truth_label,
                )
            ),
        ),
    )


def show_case(case_id: int) -> None:
    if st.button(_("Back to the gallery"), icon=":material/arrow_back:", key="lim_back"):
        st.session_state.pop(CASE_KEY, None)
        st.rerun()
    try:
        with lost_connection_shown(), session(engine) as s:
            detail = lim.limits_detail(s, case_id, model_version)
    except Unavailable:
        st.stop()
    except LibraryError as exc:
        st.error(worded(exc))
        st.session_state.pop(CASE_KEY, None)
        st.stop()
    show_flash()
    st.subheader(_("Case #{id}: {title}", id=detail.case_id, title=md(detail.title)))
    st.caption(outcome_line(detail.truth_label, detail.predicted, detail.probability))
    gray = decode_png(detail.png)
    limits_viewer(detail, gray)
    show_badges(detail.limits, list(detail.limits.get("flags") or []), detail.verdicts)
    left, right = st.columns([3, 2])
    left.plotly_chart(where_the_heat_is(detail.limits), key="lim_shares")
    peak = detail.limits.get("peak_region")
    right.metric(_("Hottest point lies in"), region_name(peak))
    right.caption(
        _(
            "Lung fields by segmenter `{segmenter}`; figures version {version}.",
            segmenter=detail.limits.get("segmenter_version", "?"),
            version=detail.limits.get("version", "?"),
        )
    )
    show_counterfactuals(detail, gray)
    show_faithfulness(detail.limits)
    show_reviews(detail)
    show_tags(detail)
    show_teaching(detail)


# ---------- summary plots -------------------------------------------------------------------------


def show_summary() -> None:
    try:
        with lost_connection_shown(), session(engine) as s:
            shares = lim.lung_share_outcomes(s, model_version)
            counts = lim.flag_counts(s, model_version)
            errors = lim.error_rate_by_flag(s, model_version)
    except Unavailable:
        st.stop()
    right = [x.lung_share for x in shares if x.correct]
    wrong = [x.lung_share for x in shares if not x.correct]
    cols = st.columns(3)
    cols[0].metric(_("Labelled cases with figures"), len(shares))
    cols[1].metric(_("Mean in-lung share, correct"), "—" if not right else pct(np.mean(right)))
    cols[2].metric(_("Mean in-lung share, wrong"), "—" if not wrong else pct(np.mean(wrong)))
    if not shares:
        st.info(_("No case with figures has a ground truth, so correct and wrong cannot be told apart."))
    else:
        fig = go.Figure()
        for name, values in (("correct", right), ("wrong", wrong)):
            fig.add_trace(
                go.Histogram(
                    x=values,
                    name=f"{outcome_name(name)} ({len(values)})",
                    xbins=dict(start=0, end=1, size=0.05),
                    histnorm="percent",
                    opacity=0.65,
                    marker_color=OUTCOME_COLOURS[name],
                )
            )
        fig.update_layout(
            barmode="overlay",
            title=_("In-lung share of the heatmap: correct vs wrong predictions"),
            xaxis=dict(title=_("share of CAM mass inside the lung fields"), range=[0, 1], tickformat=".0%"),
            yaxis_title=_("% of cases"),
            height=340,
            margin=dict(t=50, b=10),
        )
        box = go.Figure(
            [
                go.Box(y=values, name=outcome_name(name), boxmean=True, marker_color=OUTCOME_COLOURS[name])
                for name, values in (("correct", right), ("wrong", wrong))
            ]
        )
        box.update_layout(
            title=_("Same, as boxes"),
            yaxis=dict(range=[0, 1], tickformat=".0%"),
            height=340,
            margin=dict(t=50, b=10),
            showlegend=False,
        )
        c = st.columns([3, 2])
        c[0].plotly_chart(fig, key="lim_share_hist")
        c[1].plotly_chart(box, key="lim_share_box")
    titles = [flag_title(f) for f in LIMIT_FLAGS]
    bars = go.Figure(go.Bar(x=titles, y=[counts[f] for f in LIMIT_FLAGS], text=[counts[f] for f in LIMIT_FLAGS]))
    bars.update_layout(title=_("Cases per flag"), height=340, margin=dict(t=50, b=10))
    keys = [*LIMIT_FLAGS, lim.NO_FLAG]
    rates = [errors[k].error_rate for k in keys]
    error_bars = go.Figure(
        go.Bar(
            x=[*titles, _("No flag")],
            y=[r if r is not None else 0 for r in rates],
            text=[
                _("{rate} of {n}", rate="—" if r is None else pct(r), n=errors[k].cases) for k, r in zip(keys, rates)
            ],
            # Above the bar: inside ("auto") a bar of height 0 has no room, and its label vanished.
            textposition="outside",
            cliponaxis=False,
        )
    )
    error_bars.update_layout(
        title=_("Error rate by flag (labelled cases)"),
        yaxis=dict(range=[0, 1], tickformat=".0%"),
        height=340,
        margin=dict(t=50, b=10),
    )
    c = st.columns(2)
    c[0].plotly_chart(bars, key="lim_flag_counts")
    c[1].plotly_chart(error_bars, key="lim_error_rates")


case_id = st.session_state.get(CASE_KEY)
if case_id is not None:
    show_case(int(case_id))
else:
    view = st.radio(
        _("View"),
        [N_("Gallery"), N_("Summary")],
        format_func=shown_as(),
        horizontal=True,
        key="lim_view",
        label_visibility="collapsed",
    )
    if view == "Gallery":
        show_gallery()
    else:
        show_summary()
