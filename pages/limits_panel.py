"""The "does the model look at the lungs?" panel of an analysed image (Analyze page)."""

from __future__ import annotations

import streamlit as st

from core.explain.limits import FLAG_TITLES, draw_boxes, lung_contour_overlay, mainly_on_lungs
from core.formatting import percent, share, signed_number, signed_share
from pages.i18n_ui import N_, _, language, ngettext

# The flags' titles (core.explain.limits.FLAG_TITLES) and explanations, translated where shown.
FLAG_NAMES = {
    "heatmap_on_marker": N_("Heatmap on marker"),
    "heatmap_on_border": N_("Heatmap on border / collimation edge"),
    "heatmap_outside_lungs": N_("Heatmap outside the lungs"),
    "marker_dependent": N_("Marker-dependent (counterfactual)"),
}
FLAG_HELP = {
    "heatmap_on_marker": N_('A large share of the heatmap sits on a burned-in text marker (such as the "R").'),
    "heatmap_on_border": N_(
        "A large share of the heatmap sits in the outer frame of the image (collimation edge, border)."
    ),
    "heatmap_outside_lungs": N_("Less of the heatmap lies on the lung fields than for 90% of validation images."),
    "marker_dependent": N_(
        "Erasing the marker changed the probability more than erasing plain background ever did "
        "on validation images: the prediction leans on the marker."
    ),
}
REGION_NAMES = {
    "marker": N_("marker"),
    "lung": N_("lung"),
    "mediastinum": N_("mediastinum"),
    "below_diaphragm": N_("below diaphragm"),
    "border": N_("border"),
    "outside": N_("outside"),
}

# core.vocabulary.REVIEW_TAGS: stored in English, shown in the session's language (Model Limits, the quiz).
TAG_NAMES = {
    "R marker": N_("R marker"),
    "rib edge": N_("rib edge"),
    "border": N_("border"),
    "diaphragm": N_("diaphragm"),
    "heart": N_("heart"),
    "other": N_("other"),
}


def flag_title(flag: str) -> str:
    return _(FLAG_NAMES[flag]) if flag in FLAG_NAMES else FLAG_TITLES.get(flag, flag)


def flag_help(flag: str) -> str:
    return _(FLAG_HELP[flag]) if flag in FLAG_HELP else ""


def tag_name(tag: str) -> str:
    return _(TAG_NAMES[tag]) if tag in TAG_NAMES else tag


def region_name(region: str | None) -> str:
    if region is None:
        return "—"
    return _(REGION_NAMES[region]) if region in REGION_NAMES else region.replace("_", " ")


def limits_panel(result, opacity: float) -> None:
    probe = result.limits
    lang = language()
    st.subheader(_("Does the model look at the lungs?"))
    if probe is None:
        st.caption(_("Not measured: no lung segmenter is installed (`weights/lungs.safetensors`)."))
        return
    m = probe.metrics
    lung = share(m["lung_share"], 0, lang)
    cols = st.columns(3)
    cols[0].metric(_("Heatmap on the lungs"), lung)
    cols[1].metric(_("On the border frame"), share(m["border_share"], 0, lang))
    cols[2].metric(
        _("On text markers"),
        share(m["marker_share"], 0, lang),
        help=ngettext("{n} marker detected", "{n} markers detected", len(m["markers"])),
    )
    # A line, not a fourth metric: a metric cuts a long region name short ("below diaph…").
    st.markdown(_("The heatmap's peak lies on: **{region}**", region=region_name(m["peak_region"])))
    if m["flags"]:
        for flag in m["flags"]:
            st.warning(f"**{flag_title(flag)}** — {flag_help(flag)}", icon=":material/flag:")
    elif mainly_on_lungs(m["lung_share"]):
        st.success(
            _("No shortcut flag, and the heatmap lies mainly on the lung fields ({share} of its mass).", share=lung),
            icon=":material/check_circle:",
        )
    else:
        st.info(
            _(
                "No shortcut flag was raised, but only {share} of the heatmap lies on the lung fields: "
                "most of it is elsewhere. The flag fires only below the validation images' 10th percentile, and on "
                "most films the model's heatmap is not mainly on the lungs (see the Model Card).",
                share=lung,
            ),
            icon=":material/info:",
        )
    if not m["thresholds_fitted"]:
        st.caption(_("Flag thresholds are defaults; fitted ones come from `python -m core limits-fit`."))
    overlay = lung_contour_overlay(result.overlay(opacity), probe.lung_mask)
    left, mid, right = st.columns(3)
    left.image(
        draw_boxes(lung_contour_overlay(result.image.pixels, probe.lung_mask), m["markers"]),
        caption=_("Lung fields (green) and detected markers (pink)"),
        width="stretch",
    )
    mid.image(overlay, caption=_("Grad-CAM with the lung outline"), width="stretch")
    c = m["counterfactual"]
    right.image(
        probe.outside_blanked,
        caption=_(
            "Outside the lungs blanked: P(pneumonia) {p} ({delta})",
            p=percent(c["p_outside_blanked"], language=lang),
            delta=signed_share(c["outside_delta"], 1, lang),
        ),
        width="stretch",
    )
    if probe.marker_erased is not None:
        st.image(
            probe.marker_erased,
            width=300,
            caption=_(
                "Markers erased (inpainted): P(pneumonia) {p} ({delta})",
                p=percent(c["p_marker_erased"], language=lang),
                delta=signed_share(c["marker_delta"], 1, lang),
            ),
        )
    faithfulness_line(result)


def faithfulness_line(result) -> None:
    """Deletion and insertion of the Grad-CAM on the target log-odds, beside a random map of the same
    smoothness (informative where probabilities saturate). On request: its 63 forward passes cost about
    seven times the rest of the analysis, so the result shows first; computed once per analysis."""
    from core.services.explanations import analysis_faithfulness
    from pages.common import model_service

    cached = st.session_state.get("analysis_faithfulness")
    if cached is None or cached[0] is not result:
        if not st.button(
            _("Measure how faithful the heatmap is"),
            key="analysis_faithfulness_run",
            icon=":material/query_stats:",
            help=_(
                "Hides and reveals the heatmap's hottest pixels first and compares the model's evidence with a "
                "random map of the same smoothness: 63 forward passes, a few seconds."
            ),
        ):
            return
        with st.spinner(_("Measuring how faithful the heatmap is…")):
            cached = (result, analysis_faithfulness(model_service(), result))
        st.session_state["analysis_faithfulness"] = cached
    f = cached[1]
    better = f["deletion_vs_random"] < 0 and f["insertion_vs_random"] > 0
    st.caption(
        _(
            "Faithfulness of the heatmap, on the model's log-odds for {target} (not the saturating probability): "
            "hiding its hottest pixels first lowers the log-odds to an average of {deletion} (a random map of the "
            "same smoothness: {deletion_random}; lower is better), revealing them first on a blurred copy raises it "
            "to {insertion} (random: {insertion_random}; higher is better). {verdict}",
            target=result.cam_target,
            deletion=signed_number(f["deletion_auc"], 2, language()),
            deletion_random=signed_number(f["deletion_auc_random"], 2, language()),
            insertion=signed_number(f["insertion_auc"], 2, language()),
            insertion_random=signed_number(f["insertion_auc_random"], 2, language()),
            verdict=_("On both curves the heatmap beats the random map.")
            if better
            else _("The heatmap does not beat the random map on both curves: read it with care."),
        )
    )
