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
from core.formatting import percent
from core.vocabulary import LIMIT_FLAGS, REVIEW_TAGS, outcome
from db import limits as lim
from db import repository as repo
from db import teaching
from db.codec import decode_png
from db.errors import LibraryError
from pages import library_ui as ui
from pages.auth_ui import require_role
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.library_ui import (
    Unavailable,
    current_model_version,
    first_page_when_filters_change,
    library_or_stop,
    lost_connection_shown,
    session,
    show_page_position,
)

require_role("reviewer")  # server-side: a user without the role gets this message and nothing else

ANY = "Any"
ERROR_CHOICES = {ANY: None, **{label: key for key, label in lim.ERROR_TYPES.items()}}
REVIEW_CHOICES = {ANY: None, **{label: key for key, label in lim.REVIEW_STATES.items()}}
NEW_SET_NAME = "Model limits"
OUTCOME_COLOURS = {"correct": "#2e7d32", "wrong": "#c62828"}
COLUMNS = 2
CASE_KEY = "limits_case"


def flag_title(flag: str) -> str:
    return FLAG_TITLES.get(flag, flag)


st.title("Model Limits")
disclaimer()
st.caption(
    "Where does the model look when it decides? Each case below shows how much of its Grad-CAM heatmap "
    'lies inside the lung fields, on the image border, or on burned-in markers such as the "R". '
    "Rule-based flags point at likely shortcuts; reviewers confirm or reject them."
)
service = model_service()
model_version = current_model_version(service)
engine = library_or_stop()
if model_version is None:
    no_trained_model_notice()
    st.info(
        "The Model Limits gallery shows the figures stored with the installed trained model's predictions, "
        "so it stays empty until a trained model is installed.",
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
        st.error("No lung segmenter is installed (`weights/lungs.safetensors`), so the figures cannot be computed.")
        return
    if not ui.run_with_progress(
        "Computing the model-limits figures", lambda progress: backfill_limits(engine, service, progress=progress)
    ):
        st.stop()
    st.rerun()


if without_figures and st.button(
    f"Compute the missing figures now ({without_figures} predictions)",
    key="limits_backfill",
    icon=":material/calculate:",
):
    compute_missing_figures()
if with_figures == 0:
    st.info(
        f"No prediction of the installed model (`{model_version}`) carries model-limits figures yet"
        + (f" ({without_figures} predictions are waiting for them)" if without_figures else "")
        + ". Compute them — lung fields, heatmap shares, markers, counterfactuals and flags — with "
        "`python -m db limits`, then reload this page.",
        icon=":material/flag:",
    )
    st.stop()
if without_figures:
    st.caption(
        f"{with_figures} predictions have figures; {without_figures} do not yet (`python -m db limits` adds them)."
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
    cols[0].image(gray, caption="Original", width="stretch")
    cols[1].image(render_overlay(gray, cam), caption=f"Grad-CAM ({cam_target})", width="stretch")
    outline = contour(gray, packed_mask)
    if outline is None:
        cols[2].caption("No lung mask stored.")
    else:
        cols[2].image(outline, caption="Lung fields", width="stretch")


def badge(colour: str, text: str, icon: str = "") -> str:
    """Markdown badge; square brackets in the text would end it early."""
    text = text.replace("[", "(").replace("]", ")")
    return f":{colour}-badge[{icon + ' ' if icon else ''}{text}]"


def share_badges(limits: dict) -> list[str]:
    lung = float(limits.get("lung_share", 0.0))
    colour = "green" if lung >= 0.6 else "orange" if lung >= 0.4 else "red"
    return [
        badge(colour, f"In lungs {lung:.0%}", ":material/pulmonology:"),
        badge("gray", f"Border {float(limits.get('border_share') or 0):.0%}"),
        badge("gray", f"Marker {float(limits.get('marker_share') or 0):.0%}"),
    ]


def flag_badges(flags: list[str], verdicts: dict) -> list[str]:
    if not flags:
        return [badge("green", "No flag", ":material/check:")]
    out = []
    for flag in flags:
        verdict = verdicts.get(flag)
        if verdict is None:
            out.append(badge("orange", flag_title(flag), ":material/flag:"))
        elif verdict.verdict == "confirmed":
            out.append(badge("red", f"{flag_title(flag)} · confirmed", ":material/check_circle:"))
        else:
            out.append(badge("gray", f"{flag_title(flag)} · rejected", ":material/cancel:"))
    return out


def show_badges(limits: dict, flags: list[str], verdicts: dict) -> None:
    st.markdown(" ".join(share_badges(limits)) + "  \n" + " ".join(flag_badges(flags, verdicts)))


def outcome_line(truth: str | None, predicted: str, probability: float) -> str:
    verdict = outcome(truth, predicted)
    tail = f" · **{repo.describe_outcome(verdict)}**" if verdict else ""
    return f"Truth {truth or 'unlabelled'} · model {predicted} (P(pneumonia) {percent(probability)}){tail}"


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
    with st.expander("Filters and sort", expanded=True, icon=":material/filter_list:"):
        row = st.columns(4)
        row[0].multiselect("Flags (any of)", LIMIT_FLAGS, format_func=flag_title, key="lim_f_flags")
        row[1].multiselect("Reviewer tags (any of)", REVIEW_TAGS, key="lim_f_tags")
        row[2].selectbox("Correct / error", list(ERROR_CHOICES), key="lim_f_error")
        row[3].selectbox(
            "Review state",
            list(REVIEW_CHOICES),
            key="lim_f_review",
            help="About the flags filtered on (all flags when none is chosen).",
        )
        row = st.columns(4)
        row[0].selectbox("Sort", list(lim.LIMITS_SORTS), format_func=lim.LIMITS_SORTS.get, key="lim_f_sort")
        row[1].selectbox("Per page", [6, 12, 24], index=1, key="lim_f_per_page")

    filters = current_filters()
    first_page_when_filters_change("lim_f_", filters)
    page = ui.read_or_stop(
        engine, lambda s: lim.limits_page(s, filters, model_version, **ui.paging("lim_f_", "lung_share", 12))
    )

    show_page_position(page)
    for start in range(0, len(page.rows), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), page.rows[start : start + COLUMNS]):
            with col.container(border=True, key=f"lim_card_{row.case_id}"):
                st.markdown(f"**#{row.case_id} {row.title}**")
                st.caption(outcome_line(row.truth_label, row.predicted, row.probability))
                three_views(decode_png(row.thumbnail), row.cam, row.lung_mask, row.predicted)
                show_badges(row.limits, row.flags, row.verdicts)
                if row.tags:
                    st.caption("Reviewer tags: " + " ".join(f"`{t}`" for t in row.tags))
                st.button("Open", key=f"lim_open_{row.case_id}", on_click=open_case, args=(row.case_id,))
    if st.session_state.get("lim_f_page", 1) > page.pages:
        st.session_state["lim_f_page"] = page.pages
    st.number_input("Page", 1, page.pages, key="lim_f_page", step=1)


# ---------- one case -----------------------------------------------------------------------------


def probability_text(p) -> str:
    return "—" if p is None else percent(p)


def delta_text(d) -> str | None:
    return None if d is None else f"{float(d) * 100:+.1f} points"


def where_the_heat_is(limits: dict) -> go.Figure:
    parts = {
        "Lungs": "lung_share",
        "Border frame": "border_share",
        "Markers": "marker_share",
        "Mediastinum": "mediastinum_share",
        "Below the diaphragm": "below_diaphragm_share",
    }
    names = [n for n, k in parts.items() if limits.get(k) is not None]
    fig = go.Figure(
        go.Bar(
            x=[float(limits[parts[n]]) for n in names],
            y=names,
            orientation="h",
            text=[f"{float(limits[parts[n]]):.0%}" for n in names],
            textposition="auto",
        )
    )
    fig.update_layout(
        height=260,
        margin=dict(l=10, r=10, t=30, b=10),
        title="Share of the heatmap's mass",
        xaxis=dict(range=[0, 1], tickformat=".0%"),
    )
    return fig


def show_counterfactuals(detail: lim.LimitsDetail, gray: np.ndarray) -> None:
    from core.imaging.preprocess import resize_gray

    limits = detail.limits
    probe = limits.get("counterfactual") or {}
    model_input = resize_gray(gray)  # what the model saw (224×224); marker boxes are in its coordinates
    markers = [list(map(int, b)) for b in limits.get("markers") or []]
    st.markdown("#### Counterfactuals: change the image, ask the model again")
    st.caption(
        "Stored when the figures were computed: the model re-ran on these images. A large change when the "
        "marker is erased means the model leaned on the marker, not on the lungs."
    )
    cols = st.columns(3)
    cols[0].image(model_input, caption="Model input", width="stretch")
    cols[0].metric("P(pneumonia)", probability_text(detail.probability))

    def changed(col, image, caption: str, what: str, key: str) -> None:
        col.image(image, caption=caption, width="stretch")
        col.metric(
            f"P(pneumonia), {what}",
            probability_text(probe.get(f"p_{key}")),
            delta_text(probe.get(f"{key.split('_')[0]}_delta")),
            delta_color="off",
        )

    if markers:
        changed(
            cols[1],
            erase_markers(model_input, markers),
            f"Marker erased ({len(markers)} box(es))",
            "marker erased",
            "marker_erased",
        )
    else:
        cols[1].info("No burned-in marker was detected, so there is nothing to erase.")
    if detail.lung_mask is not None:
        changed(
            cols[2],
            blank_outside(model_input, unpack_mask(detail.lung_mask)),
            "Everything outside the lungs blanked",
            "outside blanked",
            "outside_blanked",
        )
    else:
        cols[2].info("No lung mask stored for this case.")


def show_faithfulness(limits: dict) -> None:
    faith = limits.get("faithfulness") or {}
    if not faith:
        return
    st.markdown("#### Faithfulness of the heatmap")
    st.caption(
        "Deletion: remove the hottest pixels first — a faithful map makes P(pneumonia) fall fast (low area). "
        "Insertion: add them first to a blank image — it should rise fast (high area)."
    )
    cols = st.columns(3)
    for col, (label, key) in zip(
        cols,
        (
            ("Deletion area (lower is better)", "deletion_auc"),
            ("Insertion area (higher is better)", "insertion_auc"),
            ("Faithfulness score", "score"),
        ),
    ):
        value = faith.get(key)
        col.metric(label, "—" if value is None else f"{float(value):.2f}")


def show_reviews(detail: lim.LimitsDetail) -> None:
    st.markdown("#### Flags: confirm or reject")
    flags = list(detail.limits.get("flags") or [])
    if not flags:
        st.caption("The rules raised no flag on this case.")
    for flag in flags:
        with st.container(border=True):
            c = st.columns([4, 1, 1])
            latest = detail.verdicts.get(flag)
            c[0].markdown(f"**{flag_title(flag)}**")
            c[0].caption(
                "Not reviewed yet."
                if latest is None
                else f"Latest: **{latest.verdict}** by {latest.reviewer} on {repo.as_datetime_text(latest.reviewed_at)}"
            )
            for col, verdict, label in ((c[1], "confirmed", "Confirm"), (c[2], "rejected", "Reject")):
                if col.button(label, key=f"lim_{verdict}_{detail.case_id}_{flag}"):
                    if act(
                        lambda s, who, f=flag, v=verdict: lim.review_flag(s, detail.case_id, model_version, f, v, who),
                        f"{flag_title(flag)}: {verdict}.",
                    ):
                        st.rerun()
    if detail.history:
        with st.expander(f"Review history ({len(detail.history)})"):
            st.table(
                [
                    {"flag": flag_title(f), "verdict": v, "reviewer": who, "when": repo.as_datetime_text(when)}
                    for f, v, who, when in detail.history
                ]
            )


def show_tags(detail: lim.LimitsDetail) -> None:
    st.markdown("#### Your tags")
    key = f"lim_tagsel_{detail.case_id}"
    st.session_state.setdefault(key, list(detail.tags))
    c = st.columns([4, 1])
    c[0].multiselect("What the heatmap sits on", REVIEW_TAGS, key=key)
    if c[1].button("Save tags", key=f"lim_tags_save_{detail.case_id}"):
        wanted = list(st.session_state[key])
        if act(lambda s, who: lim.set_limit_tags(s, detail.case_id, wanted, who), "Tags saved."):
            st.rerun()


def show_teaching(detail: lim.LimitsDetail) -> None:
    st.markdown("#### Teaching")
    try:
        with lost_connection_shown(), session(engine) as s:
            sets = {x.name: x.id for x in teaching.list_sets(s)}
            member = {x.id for x in teaching.sets_for_case(s, detail.case_id)}
    except Unavailable:
        return
    names = [n for n, i in sets.items() if i not in member]
    new_label = f"New set “{NEW_SET_NAME}”"
    if NEW_SET_NAME.lower() not in {n.lower() for n in sets}:
        names.append(new_label)
    if member:
        st.caption("In: " + ", ".join(n for n, i in sets.items() if i in member))
    if not names:
        st.caption("This case is in every teaching set already.")
        return
    c = st.columns([4, 1])
    target = c[0].selectbox("Teaching set", names, key=f"lim_set_target_{detail.case_id}")
    if c[1].button("Add to set", key=f"lim_add_set_{detail.case_id}", icon=":material/playlist_add:"):

        def add(s, _who):
            set_id = (
                teaching.create_set(s, NEW_SET_NAME, "Cases where the model looked at the wrong thing.").id
                if target == new_label
                else sets[target]
            )
            teaching.add_to_set(s, set_id, [detail.case_id])

        if act(add, f"Added case #{detail.case_id} to {NEW_SET_NAME if target == new_label else target}."):
            st.rerun()


def show_case(case_id: int) -> None:
    if st.button("Back to the gallery", icon=":material/arrow_back:", key="lim_back"):
        st.session_state.pop(CASE_KEY, None)
        st.rerun()
    try:
        with lost_connection_shown(), session(engine) as s:
            detail = lim.limits_detail(s, case_id, model_version)
    except Unavailable:
        st.stop()
    except LibraryError as exc:
        st.error(str(exc))
        st.session_state.pop(CASE_KEY, None)
        st.stop()
    show_flash()
    st.subheader(f"Case #{detail.case_id}: {detail.title}")
    st.caption(outcome_line(detail.truth_label, detail.predicted, detail.probability))
    gray = decode_png(detail.png)
    three_views(gray, detail.cam, detail.lung_mask, detail.cam_target)
    show_badges(detail.limits, list(detail.limits.get("flags") or []), detail.verdicts)
    left, right = st.columns([3, 2])
    left.plotly_chart(where_the_heat_is(detail.limits), key="lim_shares")
    peak = detail.limits.get("peak_region")
    right.metric("Hottest point lies in", "—" if peak is None else str(peak).replace("_", " "))
    right.caption(
        f"Lung fields by segmenter `{detail.limits.get('segmenter_version', '?')}`; "
        f"figures version {detail.limits.get('version', '?')}."
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
    cols[0].metric("Labelled cases with figures", len(shares))
    cols[1].metric("Mean in-lung share, correct", "—" if not right else f"{np.mean(right):.0%}")
    cols[2].metric("Mean in-lung share, wrong", "—" if not wrong else f"{np.mean(wrong):.0%}")
    if not shares:
        st.info("No case with figures has a ground truth, so correct and wrong cannot be told apart.")
    else:
        fig = go.Figure()
        for name, values in (("correct", right), ("wrong", wrong)):
            fig.add_trace(
                go.Histogram(
                    x=values,
                    name=f"{name} ({len(values)})",
                    xbins=dict(start=0, end=1, size=0.05),
                    histnorm="percent",
                    opacity=0.65,
                    marker_color=OUTCOME_COLOURS[name],
                )
            )
        fig.update_layout(
            barmode="overlay",
            title="In-lung share of the heatmap: correct vs wrong predictions",
            xaxis=dict(title="share of CAM mass inside the lung fields", range=[0, 1], tickformat=".0%"),
            yaxis_title="% of cases",
            height=340,
            margin=dict(t=50, b=10),
        )
        box = go.Figure(
            [
                go.Box(y=values, name=name, boxmean=True, marker_color=OUTCOME_COLOURS[name])
                for name, values in (("correct", right), ("wrong", wrong))
            ]
        )
        box.update_layout(
            title="Same, as boxes",
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
    bars.update_layout(title="Cases per flag", height=340, margin=dict(t=50, b=10))
    keys = [*LIMIT_FLAGS, lim.NO_FLAG]
    rates = [errors[k].error_rate for k in keys]
    error_bars = go.Figure(
        go.Bar(
            x=[*titles, "No flag"],
            y=[r if r is not None else 0 for r in rates],
            text=[("—" if r is None else f"{r:.0%}") + f" of {errors[k].cases}" for k, r in zip(keys, rates)],
        )
    )
    error_bars.update_layout(
        title="Error rate by flag (labelled cases)",
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
    view = st.radio("View", ["Gallery", "Summary"], horizontal=True, key="lim_view", label_visibility="collapsed")
    if view == "Gallery":
        show_gallery()
    else:
        show_summary()
