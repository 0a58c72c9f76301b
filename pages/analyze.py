import hashlib

import streamlit as st

from core.analysis import InputFlagged, analyze_bytes
from core.explain.gradcam import colour_bar
from core.formatting import percent
from core.imaging.decode import ACCEPTED, ImageRejected
from pages.auth_ui import require_login
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.explain_grid import analysis_subject, explanation_grid
from pages.limits_panel import limits_panel
from pages.report_panel import report_panel
from pages.save_to_library import save_to_library_button

require_login()

st.title("Analyze a chest X-ray")
disclaimer()
service = model_service()

upload = st.file_uploader(f"Upload a frontal chest X-ray ({ACCEPTED})", key="analyze_upload")
if upload is None:
    st.caption("Nothing is stored until you choose to save a case; identifiers in file metadata are never kept.")
    st.stop()

data = upload.getvalue()
digest = hashlib.sha256(data).hexdigest()
# "Analyze anyway" applies to this one upload only, never to the next file.
force = st.session_state.get("analyze_override") == digest
cached = st.session_state.get("analysis")
# The analysis is computed once per upload; sliders and reruns reuse it.
if cached is None or cached[0] != (digest, service.version, force):
    try:
        with st.spinner("Analysing…"):
            analysis = analyze_bytes(service, data, force=force, with_limits=True)
            st.session_state["analysis"] = ((digest, service.version, force), analysis)
    except InputFlagged as exc:
        st.session_state.pop("analysis", None)
        st.error(
            f"**{upload.name}** was not analysed: {exc.verdict.reason}. This tool only reads frontal "
            "chest X-rays; its output on anything else would be meaningless.",
            icon=":material/block:",
        )
        if st.button("Analyze anyway (the result will be marked unreliable)", key="analyze_anyway"):
            st.session_state["analyze_override"] = digest
            st.rerun()
        st.stop()
    except ImageRejected as exc:
        st.session_state.pop("analysis", None)
        st.error(f"**{upload.name}** was not analysed: {exc}", icon=":material/block:")
        st.stop()
result = st.session_state["analysis"][1]

if not result.model_trained:
    no_trained_model_notice()
    st.image(result.image.pixels, caption=f"{upload.name} ({result.image.width}×{result.image.height})")
    save_to_library_button(result, upload.name)
    st.stop()

guard, certainty = result.guard, result.uncertainty
if guard.overridden:
    st.warning(
        f"Analysed anyway, at your request: the input check said {guard.reason}. "
        "The output below is unreliable; this override is recorded with the result.",
        icon=":material/report:",
    )
elif guard.unlike_training:
    st.warning(
        "**This chest X-ray is unlike the films the model was trained on.** The model learnt from pediatric "
        "frontal chest X-rays of one centre; on an adult film, another hospital's equipment or other image "
        f"processing its output is unreliable. ({guard.reason}.)",
        icon=":material/warning:",
    )
elif guard.distance is None:
    st.caption(f"Input guard not checked: {guard.reason}.")
top = st.columns(4)
top[0].metric("Model output", result.label)
top[1].metric("Probability of pneumonia", percent(result.probability), help="Calibrated probability")
top[2].metric(
    "Certainty",
    certainty.level,
    help=f"Uncertain band: {certainty.band[0]:.1%}–{certainty.band[1]:.1%} "
    "P(pneumonia), chosen on validation so that outside it at most 5% of validation images were misclassified.",
)
top[3].metric("Model version", result.model_version)
st.progress(
    result.probability,
    text=f"P(pneumonia) {percent(result.probability)} · decision threshold {result.threshold:.1%} "
    f"· uncertain band {certainty.band[0]:.0%}–{certainty.band[1]:.0%}",
)
if not certainty.sure:
    st.warning(
        "**The model is not sure about this image:** " + "; ".join(certainty.reasons) + ".", icon=":material/help:"
    )
if guard.familiarity_percentile is not None:
    st.caption(
        f"Typicality: this image is more typical than {guard.familiarity_percentile:.0f}% of validation "
        f"X-rays (feature distance {guard.distance:.1f}, limit {guard.threshold:.1f})."
    )

opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="analyze_opacity")
left, right = st.columns(2)
left.image(
    result.image.pixels, caption=f"Uploaded image ({result.image.width}×{result.image.height} px)", width="stretch"
)
right.image(result.overlay(opacity), caption=f"Grad-CAM for {result.cam_target}", width="stretch")
right.image(colour_bar(512, 14), width="stretch")
right.caption(
    "Colour scale: blue = low attention → red = highest attention. Grad-CAM shows where the "
    "model's evidence lies, at 7×7 resolution — not where disease is."
)
if result.cam_summary.get("peak") is None:
    st.caption("The heatmap is empty: no region raised this class's score (Grad-CAM keeps only positive evidence).")
limits_panel(result, opacity)
with st.expander("Where the heatmap lies (numbers)"):
    st.json(result.to_dict()["cam_summary"])
save_to_library_button(result, upload.name)
st.subheader("Explanation Lab")
if st.toggle(
    "Show every explanation method on this X-ray",
    key="analyze_explain_on",
    help="Grad-CAM is one way of seeing; the grid shows the field's other methods on the same image.",
):
    explanation_grid(analysis_subject(result), "analyze_explain")
report_panel(result)
