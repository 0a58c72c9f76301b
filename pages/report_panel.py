"""The report section: one call from Analyze (and later the case detail) lays it out.

Facts come from the analysis; generation, checking and versioning live in core.reports. The
API key is read from st.secrets or the environment and never displayed.
"""

from __future__ import annotations

import streamlit as st

from core.formatting import number
from core.i18n import language_name
from core.reports import (
    InMemoryReportStore,
    ReportFacts,
    ask_why,
    build_facts,
    diff_markdown,
    get_report,
    image_id,
    to_markdown,
)
from core.reports.content import LANGUAGES
from core.reports.fact_check import reason_in
from core.reports.gemini import GeminiSettings
from core.reports.redaction import redact
from core.reports.service import key_for, source_reason_in
from core.safe_text import md
from db.errors import LibraryError
from pages.i18n_ui import N_, _, language, worded

LANGUAGE_LABELS = {lang: language_name(lang) for lang in LANGUAGES}  # the languages reports are written in
SOURCE_NAMES = {"gemini": "Gemini", "offline": N_("offline")}  # a record's source, as the version line names it
REPORT_LANGUAGE_KEY = "report_language_choice"  # the user's last pick of a report language


def _spinner_text(settings, text: str) -> str:
    if not settings.online:
        return text
    return _(
        "{text} (Gemini has at most {seconds} s; after that the offline text is shown at once)",
        text=text,
        seconds=number(settings.deadline_s, 0, language()),
    )


def source_reason(reason: str | None) -> str:
    """Why a report or answer is offline, in the session's language."""
    return source_reason_in(language(), reason)


def source_name(source: str) -> str:
    return _(SOURCE_NAMES[source]) if source in SOURCE_NAMES else source


def report_store():
    """Reports of library cases live in SQL with their case; an unsaved upload's stay in this session."""
    from core.services.report_store import LibraryReportStore, SqlReportStore
    from pages.auth_ui import acting_user_id
    from pages.library_ui import library

    if "report_store" not in st.session_state:
        st.session_state["report_store"] = InMemoryReportStore()
    engine = library()
    if engine is None:  # library unreachable: the message is shown; reports still work for this session
        return st.session_state["report_store"]
    return LibraryReportStore(SqlReportStore(engine, acting_user_id()), st.session_state["report_store"])


def gemini_settings() -> GeminiSettings:
    secrets = st.secrets if st.secrets.load_if_toml_exists() else None
    return GeminiSettings.from_env(secrets)


def _show_record(record, previous=None) -> None:
    badge = st.columns([1, 3])
    if record.source == "gemini":
        badge[0].badge("Gemini", icon=":material/auto_awesome:", color="blue")
        badge[1].caption(
            _(
                "Written by `{model}` from the case facts · version {version} · prompt `{prompt}`",
                model=record.llm_model,
                version=record.version,
                prompt=record.prompt_version,
            )
        )
    else:
        badge[0].badge(_("Offline"), icon=":material/cloud_off:", color="orange")
        badge[1].caption(
            _(
                "Template report from the case facts · version {version} · why: {reason}",
                version=record.version,
                reason=source_reason(record.source_reason),
            )
        )
    if record.guard_passed:
        st.success(
            _("Fact check passed: class, probability, notice and named conditions match the facts."),
            icon=":material/verified:",
        )
    else:
        st.error(
            _("Fact check FAILED — read this report as an example of what can go wrong, not as an explanation:")
            + "\n\n"
            + "\n".join(f"- {reason_in(language(), reason)}" for reason in record.guard_reasons),
            icon=":material/gpp_bad:",
        )
    with st.container(border=True):
        st.markdown(to_markdown(record, header=False))
    if previous is not None:
        with st.expander(
            _(
                "What changed: version {old} ({old_source}) → version {new} ({new_source})",
                old=previous.version,
                old_source=source_name(previous.source),
                new=record.version,
                new_source=source_name(record.source),
            ),
            expanded=True,
        ):
            diff = diff_markdown(previous, record)
            if diff:
                st.code(diff, language="diff", wrap_lines=True)
            else:
                st.caption(_("No difference: the two versions have identical text."))


def report_downloads(record, key: str) -> None:
    """The report as PDF (font embedded) and Markdown, in the report's language; made when clicked."""
    from core.exports.report_files import report_markdown, report_pdf
    from core.fonts import FontMissing, korean_font

    stem = f"report-{record.image_id[:12]}-v{record.version}-{record.language}"
    try:
        korean_font()
        has_font = True
    except FontMissing:
        has_font = False
    files = (  # (extension, label, what makes the file, type, icon), one a column
        ("pdf", _("Download the report (PDF)"), lambda: report_pdf(record), "application/pdf", ":material/picture_as_pdf:"),
        ("md", _("Download the report (Markdown)"), lambda: report_markdown(record), "text/markdown", ":material/description:"),
    )  # fmt: skip
    for column, (extension, label, make, mime, icon) in zip(st.columns(2), files, strict=True):
        if extension == "pdf" and not has_font:
            column.caption(
                _("PDF export needs a font with Korean glyphs: install fonts-noto-cjk or set CXR_KOREAN_FONT.")
            )
            continue
        column.download_button(
            label,
            data=make,  # made when clicked, and with on_click="ignore" without a rerun
            file_name=f"{stem}.{extension}",
            mime=mime,
            key=f"{key}_{extension}",
            icon=icon,
            on_click="ignore",
        )


def _ask_box(facts: ReportFacts, language: str, settings: GeminiSettings, key: str) -> None:
    st.markdown(_("**Ask why** — a short question about this case, answered from its facts only."))
    with st.form(f"{key}_ask_form", clear_on_submit=False, border=False):
        question = st.text_input(
            _("Question"),
            key=f"{key}_question",
            max_chars=300,
            placeholder=_("Why did the model say this? Where did it look? Can I trust it?"),
        )
        asked = st.form_submit_button(_("Ask"))
    if asked:
        if not question.strip():
            st.warning(_("Type a question first."))
        else:
            with st.spinner(_spinner_text(settings, _("Thinking…")), show_time=True):
                st.session_state[f"{key}_answer"] = (question, ask_why(facts, question, language, settings))
    answer = st.session_state.get(f"{key}_answer")
    if answer is not None:
        q, a = answer
        st.markdown(f"> {md(q)}\n\n{a.text}")
        st.caption(
            _("Answered by Gemini from the case facts.")
            if a.source == "gemini"
            else _("Answered offline from the case facts ({reason}).", reason=source_reason(a.reason))
        )


def _reference_scores(record, reference: str) -> None:
    from core.reports.scoring import score_report_content

    scores = score_report_content(record.content, record.language, reference)
    cols = st.columns(2)
    cols[0].metric(
        _("ROUGE-L F1 vs reference"),
        f"{scores.rouge_l_f:.2f}",
        help=_(
            "precision {precision} · recall {recall}",
            precision=f"{scores.rouge_l_precision:.2f}",
            recall=f"{scores.rouge_l_recall:.2f}",
        ),
    )
    cols[1].metric(_("BLEU vs reference"), f"{scores.bleu:.1f}", help=_("0–100 scale (sacrebleu)"))
    st.caption(
        _(
            "These scores count shared words and word sequences between this report and the instructor's "
            "reference: they say how close the wording is, not whether either text is correct or clinically sound."
        )
    )


def report_panel(source, *, image_key: str | None = None, key: str = "report", reference: str | None = None) -> None:
    """Report section for an Analysis (or ready ReportFacts with `image_key`); scored against `reference` if given."""
    facts = source if isinstance(source, ReportFacts) else build_facts(source)
    img = image_key or image_id(source.image.pixels)
    settings, store = gemini_settings(), report_store()

    st.subheader(_("Educational report"))
    if settings.online:
        st.caption(
            _(
                "Reports are written by Gemini (`{model}`) from the facts below and checked against "
                "them; the API key is configured and never shown.",
                model=settings.model,
            )
        )
    else:
        st.caption(
            _(
                "No Gemini API key is configured (GEMINI_API_KEY or GOOGLE_API_KEY): reports use the offline "
                "template, written from the same facts."
            )
        )
    choices = list(LANGUAGE_LABELS)
    # The report starts in the language last picked for a report in this session, else the interface's. The
    # choice is kept outside the widget: a widget's state goes whenever it is not drawn (each new upload).
    wanted = st.session_state.get(REPORT_LANGUAGE_KEY) or language()
    language_ = st.radio(
        _("Report language"),
        choices,
        index=choices.index(wanted) if wanted in choices else 0,
        format_func=LANGUAGE_LABELS.get,
        horizontal=True,
        key=f"{key}_language",
        on_change=lambda: st.session_state.update({REPORT_LANGUAGE_KEY: st.session_state[f"{key}_language"]}),
    )
    report_language: str = language_ or choices[0]
    shown: dict = st.session_state.setdefault(f"{key}_shown", {})
    slot = (img, facts.model_version, report_language)
    current = shown.get(slot) or store.latest(key_for(facts, img, report_language, settings))

    # Clicks are recorded by callbacks and handled here, before the buttons are drawn, so the
    # buttons' enabled state already reflects the report this run produces.
    request = st.session_state.pop(f"{key}_request", None)
    previous = st.session_state.get(f"{key}_previous", {}).get(slot)
    if request in ("generate", "regenerate"):
        try:
            # The elapsed time is shown; after the deadline the offline report comes at once.
            with st.spinner(_spinner_text(settings, _("Writing the report…")), show_time=True):
                outcome = get_report(
                    facts, img, store, language=report_language, settings=settings, regenerate=request == "regenerate"
                )
        except LibraryError as exc:  # refused by the library (e.g. the account was just deactivated)
            st.error(worded(exc), icon=":material/block:")
            return
        except Exception as exc:  # a bug, not a Gemini failure (those fall back inside): say so, keep the page
            st.error(_("The report could not be made: {error}", error=redact(exc)), icon=":material/error:")
            return
        previous = current if request == "regenerate" else None
        st.session_state.setdefault(f"{key}_previous", {})[slot] = previous
        current = shown[slot] = outcome.record
        if outcome.reused:
            st.caption(_("Stored report for this image, model version, prompt version, language and LLM model."))

    def ask_for(kind: str) -> None:
        st.session_state[f"{key}_request"] = kind

    buttons = st.columns([1, 1, 3])
    buttons[0].button(
        _("Generate report"),
        key=f"{key}_generate",
        disabled=current is not None,
        icon=":material/description:",
        on_click=ask_for,
        args=("generate",),
    )
    buttons[1].button(
        _("Regenerate"),
        key=f"{key}_regenerate",
        disabled=current is None,
        icon=":material/refresh:",
        on_click=ask_for,
        args=("regenerate",),
    )

    with st.expander(_("Facts the report is written from")):
        st.json(facts.to_dict())
    if current is None:
        st.caption(_("Press **Generate report** to write one."))
    else:
        _show_record(current, previous)
        report_downloads(current, key)
        if reference and reference.strip():
            _reference_scores(current, reference)
        versions = store.versions(current.key)
        if len(versions) > 1:
            st.caption(_("{n} versions are kept for this image, model and language.", n=len(versions)))
        _ask_box(facts, report_language, settings, key)
    st.caption(_("Educational text about what the model computed. It does not diagnose."))
