"""Explain: every explanation method side by side on one X-ray, an upload or a library case."""

import hashlib

import streamlit as st

from core.analysis import InputFlagged, analyze_bytes
from core.imaging.decode import ACCEPTED, ImageRejected
from core.safe_text import md
from core.services.explanations import trust_summary
from db import teaching
from pages.auth_ui import require_login
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.explain_grid import analysis_subject, case_subject, explanation_grid
from pages.i18n_ui import N_, _, guard_reason, ngettext, shown_as, worded
from pages.library_ui import library, read_or_stop
from pages.trust_panel import trust_benchmark

user = require_login()
st.title(_("Explain: how does the model see this X-ray?"))
disclaimer()
st.markdown(
    _(
        "The same image, the same class, many explanation methods. They often disagree — and that disagreement "
        "is the lesson: a map shows what one method measures about the model, not where disease is."
    )
)
service = model_service()
if not service.info.trained:
    no_trained_model_notice()
    st.stop()

source = st.radio(
    _("Explain"),
    ["upload", "library"],
    format_func=shown_as({"upload": N_("an upload"), "library": N_("a library case")}),
    key="explain_source",
    horizontal=True,
)


def upload_subject():
    upload = st.file_uploader(_("Upload a frontal chest X-ray ({formats})", formats=_(ACCEPTED)), key="explain_upload")
    if upload is None:
        st.caption(_("Nothing is stored from an upload; its maps are kept for this session only."))
        return None
    data = upload.getvalue()
    digest = (hashlib.sha256(data).hexdigest(), service.version)
    cached = st.session_state.get("explain_analysis")
    if cached is None or cached[0] != digest:
        try:
            with st.spinner(_("Analysing…")):
                st.session_state["explain_analysis"] = (digest, analyze_bytes(service, data, with_limits=True))
        except InputFlagged as exc:
            st.error(
                _(
                    "**{name}** was not explained: {reason}. This tool only reads frontal chest X-rays.",
                    name=md(upload.name),
                    reason=guard_reason(exc.verdict.reason),
                ),
                icon=":material/block:",
            )
            return None
        except ImageRejected as exc:
            st.error(
                _("**{name}** was not explained: {reason}", name=md(upload.name), reason=worded(exc)),
                icon=":material/block:",
            )
            return None
    return analysis_subject(st.session_state["explain_analysis"][1])


def library_subject() -> tuple:
    """The chosen case as a subject, and its heading in the session's language ((None, "") when there is none)."""
    engine = library()
    if engine is None:
        return None, ""
    staff = user.can("instructor") or user.can("reviewer")
    sets = read_or_stop(engine, lambda s: teaching.list_sets(s, published_only=not staff))
    options = {x.id: ngettext("{name} ({n} case)", "{name} ({n} cases)", x.size, name=x.name) for x in sets if x.size}
    if not options:
        st.info(
            _("No teaching set with cases is available to you yet.")
            if not staff
            else _("No teaching set has cases yet.")
        )
        return None, ""
    set_id = st.selectbox(_("Teaching set"), list(options), format_func=options.get, key="explain_set")
    titles = read_or_stop(engine, lambda s: {c.id: c.title for c in teaching.set_cases(s, set_id)})
    case_id = st.selectbox(
        _("Case"), list(titles), format_func=lambda i: f"#{i} · {titles.get(i, '')}", key="explain_case"
    )
    if case_id is None:
        return None, ""
    return case_subject(engine, case_id), _("Case #{id}: {title}", id=case_id, title=md(titles[case_id]))


subject, heading = (upload_subject(), "") if source == "upload" else library_subject()
if subject is None:
    st.stop()
if heading:
    st.subheader(heading)
st.caption(_("The model's output: **{label}** (model {version}).", label=subject.predicted, version=service.version))
explanation_grid(subject, "explain")
trust_benchmark(trust_summary(service), "explain")
