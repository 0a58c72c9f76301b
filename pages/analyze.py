import hashlib

import streamlit as st

from core.analysis import DISCLAIMER, InputFlagged, analyze_bytes
from core.exports.case_figures import case_figures, figures_json
from core.formatting import number, percent, share
from core.imaging.decode import ACCEPTED, ImageRejected
from core.safe_text import md
from pages.auth_ui import require_login
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.explain_grid import analysis_subject, explanation_grid
from pages.i18n_ui import _, certainty_level, guard_reason, language, uncertainty_reason, worded
from pages.image_viewer import Downloads, image_viewer
from pages.limits_panel import limits_panel
from pages.report_panel import report_panel
from pages.save_to_library import save_to_library_button

require_login()

st.title(_("Analyze a chest X-ray"))
disclaimer()
service = model_service()
lang = language()

upload = st.file_uploader(_("Upload a frontal chest X-ray ({formats})", formats=_(ACCEPTED)), key="analyze_upload")
if upload is None:
    st.caption(_("Nothing is stored until you choose to save a case; identifiers in file metadata are never kept."))
    st.stop()

data = upload.getvalue()
digest = hashlib.sha256(data).hexdigest()
# "Analyze anyway" applies to this one upload only: it is remembered by the upload (file_id), not by the
# content, so the same file uploaded again is checked and asked about again.
force = st.session_state.get("analyze_override") == upload.file_id
cached = st.session_state.get("analysis")
# The analysis is computed once per upload; sliders and reruns reuse it.
if cached is None or cached[0] != (digest, service.version, force):
    try:
        with st.spinner(_("Analysing…")):
            analysis = analyze_bytes(service, data, force=force, with_limits=True)
            st.session_state["analysis"] = ((digest, service.version, force), analysis)
    except InputFlagged as exc:
        st.session_state.pop("analysis", None)
        st.error(
            _(
                "**{name}** was not analysed: {reason}. This tool only reads frontal "
                "chest X-rays; its output on anything else would be meaningless.",
                name=md(upload.name),
                reason=guard_reason(exc.verdict.reason),
            ),
            icon=":material/block:",
        )
        if st.button(_("Analyze anyway (the result will be marked unreliable)"), key="analyze_anyway"):
            st.session_state["analyze_override"] = upload.file_id
            st.rerun()
        st.stop()
    except ImageRejected as exc:
        st.session_state.pop("analysis", None)
        st.error(
            _("**{name}** was not analysed: {reason}", name=md(upload.name), reason=worded(exc)),
            icon=":material/block:",
        )
        st.stop()
result = st.session_state["analysis"][1]

if not result.model_trained:
    no_trained_model_notice()
    st.image(result.image.pixels, caption=f"{md(upload.name)} ({result.image.width}×{result.image.height})")
    save_to_library_button(result, upload.name)
    st.stop()

guard, certainty = result.guard, result.uncertainty
if guard.overridden:
    st.warning(
        _(
            "Analysed anyway, at your request: the input check said {reason}. "
            "The output below is unreliable; this override is recorded with the result.",
            reason=guard_reason(guard.reason),
        ),
        icon=":material/report:",
    )
elif guard.unlike_training:
    st.warning(
        _(
            "**This chest X-ray is unlike the films the model was trained on.** The model learnt from pediatric "
            "frontal chest X-rays of one centre; on an adult film, another hospital's equipment or other image "
            "processing its output is unreliable. ({reason}.)",
            reason=guard_reason(guard.reason),
        ),
        icon=":material/warning:",
    )
elif guard.distance is None:
    st.caption(_("Input guard not checked: {reason}.", reason=guard_reason(guard.reason)))
top = st.columns(4)
top[0].metric(_("Model output"), result.label)
top[1].metric(
    _("Probability of pneumonia"), percent(result.probability, language=lang), help=_("Calibrated probability")
)
top[2].metric(
    _("Certainty"),
    certainty_level(certainty.level),
    help=_(
        "Uncertain band: {low}–{high} P(pneumonia), chosen on validation so that outside it at most 5% of "
        "validation images were misclassified.",
        low=share(certainty.band[0], 1, lang),
        high=share(certainty.band[1], 1, lang),
    ),
)
top[3].metric(_("Model version"), result.model_version)
st.progress(
    result.probability,
    text=_(
        "P(pneumonia) {p} · decision threshold {threshold} · uncertain band {low}–{high}",
        p=percent(result.probability, language=lang),
        threshold=share(result.threshold, 1, lang),
        low=share(certainty.band[0], 0, lang),
        high=share(certainty.band[1], 0, lang),
    ),
)
if not certainty.sure:
    reasons = "; ".join(
        uncertainty_reason(r, certainty, result.probability, result.threshold) for r in certainty.reasons
    )
    st.warning(_("**The model is not sure about this image:** {reasons}.", reasons=reasons), icon=":material/help:")
if guard.familiarity_percentile is not None:
    st.caption(
        _(
            "Typicality: this image is more typical than {share} of validation "
            "X-rays (feature distance {distance}, limit {limit}).",
            share=share(guard.familiarity_percentile / 100, 0, lang),
            distance=number(guard.distance, 1, lang),
            limit=number(guard.threshold, 1, lang),
        )
    )

settings = image_viewer(
    result.image.pixels,
    key="analyze_view",
    caption=_(
        "Grad-CAM for {target} over the uploaded image ({width}×{height} px). Grad-CAM shows where the model's "
        "evidence lies, at 7×7 resolution — not where disease is.",
        target=result.cam_target,
        width=result.image.width,
        height=result.image.height,
    ),
    cam=result.cam,
    downloads=Downloads(
        file_stem=f"analysis-{digest[:12]}",
        model_version=result.model_version,
        figures_json=figures_json(
            case_figures(
                notice=_(DISCLAIMER),
                source={"kind": "upload", "sha256": digest, "width": result.image.width, "height": result.image.height},
                label=result.label,
                probability=result.probability,
                model_version=result.model_version,
                cam_target=result.cam_target,
                cam=result.cam,
                cam_summary=result.to_dict()["cam_summary"],
                limits=None if result.limits is None else result.limits.metrics,
            )
        ),
    ),
)
opacity = settings.opacity if settings.show_map else 0.0
if result.cam_summary.get("peak") is None:
    st.caption(_("The heatmap is empty: no region raised this class's score (Grad-CAM keeps only positive evidence)."))
limits_panel(result, opacity)
with st.expander(_("Where the heatmap lies (numbers)")):
    st.json(result.to_dict()["cam_summary"])
save_to_library_button(result, upload.name)
st.subheader(_("Explanation Lab"))
if st.toggle(
    _("Show every explanation method on this X-ray"),
    key="analyze_explain_on",
    help=_("Grad-CAM is one way of seeing; the grid shows the field's other methods on the same image."),
):
    explanation_grid(analysis_subject(result), "analyze_explain")
report_panel(result)
