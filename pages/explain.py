"""Explain: every explanation method side by side on one X-ray, an upload or a library case."""

import hashlib

import streamlit as st

from core.analysis import InputFlagged, analyze_bytes
from core.imaging.decode import ACCEPTED, ImageRejected
from core.services.explanations import trust_summary
from db import teaching
from pages.auth_ui import require_login
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.explain_grid import analysis_subject, case_subject, explanation_grid
from pages.library_ui import library, read_or_stop
from pages.trust_panel import trust_benchmark

user = require_login()
st.title("Explain: how does the model see this X-ray?")
disclaimer()
st.markdown(
    "The same image, the same class, many explanation methods. They often disagree — and that disagreement is "
    "the lesson: a map shows what one method measures about the model, not where disease is."
)
service = model_service()
if not service.info.trained:
    no_trained_model_notice()
    st.stop()

source = st.radio(
    "Explain",
    ["upload", "library"],
    format_func={"upload": "an upload", "library": "a library case"}.get,
    key="explain_source",
    horizontal=True,
)


def upload_subject():
    upload = st.file_uploader(f"Upload a frontal chest X-ray ({ACCEPTED})", key="explain_upload")
    if upload is None:
        st.caption("Nothing is stored from an upload; its maps are kept for this session only.")
        return None
    data = upload.getvalue()
    digest = (hashlib.sha256(data).hexdigest(), service.version)
    cached = st.session_state.get("explain_analysis")
    if cached is None or cached[0] != digest:
        try:
            with st.spinner("Analysing…"):
                st.session_state["explain_analysis"] = (digest, analyze_bytes(service, data, with_limits=True))
        except InputFlagged as exc:
            st.error(
                f"**{upload.name}** was not explained: {exc.verdict.reason}. This tool only reads frontal chest X-rays.",
                icon=":material/block:",
            )
            return None
        except ImageRejected as exc:
            st.error(f"**{upload.name}** was not explained: {exc}", icon=":material/block:")
            return None
    return analysis_subject(st.session_state["explain_analysis"][1])


def library_subject():
    engine = library()
    if engine is None:
        return None
    staff = user.can("instructor") or user.can("reviewer")
    sets = read_or_stop(engine, lambda s: teaching.list_sets(s, published_only=not staff))
    options = {x.id: f"{x.name} ({x.size} cases)" for x in sets if x.size}
    if not options:
        st.info(
            "No teaching set with cases is available to you yet." if not staff else "No teaching set has cases yet."
        )
        return None
    set_id = st.selectbox("Teaching set", list(options), format_func=options.get, key="explain_set")
    cases = read_or_stop(engine, lambda s: {c.id: f"#{c.id} · {c.title}" for c in teaching.set_cases(s, set_id)})
    case_id = st.selectbox("Case", list(cases), format_func=cases.get, key="explain_case")
    return case_subject(engine, case_id) if case_id is not None else None


subject = upload_subject() if source == "upload" else library_subject()
if subject is None:
    st.stop()
if subject.title:
    st.subheader(subject.title)
st.caption(f"The model's output: **{subject.predicted}** (model {service.version}).")
explanation_grid(subject, "explain")
trust_benchmark(trust_summary(service), "explain")
