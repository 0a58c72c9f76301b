"""The "does the model look at the lungs?" panel of an analysed image (Analyze page)."""

from __future__ import annotations

import streamlit as st

from core.explain.limits import FLAG_TITLES, draw_boxes, lung_contour_overlay, mainly_on_lungs
from core.formatting import percent

FLAG_HELP = {
    "heatmap_on_marker": 'A large share of the heatmap sits on a burned-in text marker (such as the "R").',
    "heatmap_on_border": "A large share of the heatmap sits in the outer frame of the image (collimation edge, border).",
    "heatmap_outside_lungs": "Less of the heatmap lies on the lung fields than for 90% of validation images.",
    "marker_dependent": "Erasing the marker changed the probability more than erasing plain background ever did "
    "on validation images: the prediction leans on the marker.",
}


def limits_panel(result, opacity: float) -> None:
    probe = result.limits
    st.subheader("Does the model look at the lungs?")
    if probe is None:
        st.caption("Not measured: no lung segmenter is installed (`weights/lungs.safetensors`).")
        return
    m = probe.metrics
    cols = st.columns(4)
    cols[0].metric("Heatmap on the lungs", f"{m['lung_share']:.0%}")
    cols[1].metric("On the border frame", f"{m['border_share']:.0%}")
    cols[2].metric("On text markers", f"{m['marker_share']:.0%}", help=f"{len(m['markers'])} marker(s) detected")
    cols[3].metric("Peak lies on", m["peak_region"].replace("_", " "))
    if m["flags"]:
        for flag in m["flags"]:
            st.warning(f"**{FLAG_TITLES[flag]}** — {FLAG_HELP[flag]}", icon=":material/flag:")
    elif mainly_on_lungs(m["lung_share"]):
        st.success(
            f"No shortcut flag, and the heatmap lies mainly on the lung fields ({m['lung_share']:.0%} of its mass).",
            icon=":material/check_circle:",
        )
    else:
        st.info(
            f"No shortcut flag was raised, but only {m['lung_share']:.0%} of the heatmap lies on the lung fields: "
            "most of it is elsewhere. The flag fires only below the validation images' 10th percentile, and on "
            "most films the model's heatmap is not mainly on the lungs (see the Model Card).",
            icon=":material/info:",
        )
    if not m["thresholds_fitted"]:
        st.caption("Flag thresholds are defaults; fitted ones come from `python -m core limits-fit`.")
    overlay = lung_contour_overlay(result.overlay(opacity), probe.lung_mask)
    left, mid, right = st.columns(3)
    left.image(
        draw_boxes(lung_contour_overlay(result.image.pixels, probe.lung_mask), m["markers"]),
        caption="Lung fields (green) and detected markers (pink)",
        width="stretch",
    )
    mid.image(overlay, caption="Grad-CAM with the lung outline", width="stretch")
    c = m["counterfactual"]
    right.image(
        probe.outside_blanked,
        caption=f"Outside the lungs blanked: P(pneumonia) {percent(c['p_outside_blanked'])} "
        f"({c['outside_delta']:+.1%})",
        width="stretch",
    )
    if probe.marker_erased is not None:
        st.image(
            probe.marker_erased,
            width=300,
            caption=f"Markers erased (inpainted): P(pneumonia) {percent(c['p_marker_erased'])} ({c['marker_delta']:+.1%})",
        )
    f = m["faithfulness"]
    st.caption(
        f"Faithfulness of the heatmap: hiding its hottest pixels leaves {f['deletion_auc']:.2f} of the "
        f"class's confidence on average (deletion AUC, lower is better), revealing them first restores "
        f"{f['insertion_auc']:.2f} (insertion AUC, higher is better); score {f['score']:+.2f}."
    )
