"""Instructors see where the class struggles: per case, per student, per teaching set, and a CSV of every answer.

Figures come from core.services.class_dashboard (what was stored with each answer); the page only lays them out.
"""

import plotly.express as px
import streamlit as st

from core.formatting import percent
from core.safe_text import md, plotly_label
from core.services.class_dashboard import class_results
from pages.auth_ui import require_role
from pages.common import disclaimer, number_table, translated_columns
from pages.i18n_ui import N_, _, choices_placeholder, language, ngettext
from pages.library_ui import library_or_stop, read_or_stop

GALLERY_PAGE = "pages/case_gallery.py"
GALLERY_CASE_KEY = "gallery_case"  # what pages/case_gallery.py opens
SHOWN_CASES = 25

require_role("instructor")
st.title(_("Class dashboard"))
disclaimer()
engine = library_or_stop()
results = read_or_stop(engine, class_results)
if not results.rows:
    st.info(
        _("No quiz answers yet. When students take quizzes, their results show up here."),
        icon=":material/hourglass_empty:",
    )
    st.stop()


def pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def shortcut_answers(expected: str | None) -> str:
    """A "Spot the shortcut" answer's accepted choices (comma-joined keys, as stored) in the session's language."""
    from core.teaching.shortcut import CHOICES

    keys = [key for key in (expected or "").split(",") if key]
    return _(" or ").join(_(CHOICES[key]) if key in CHOICES else key for key in keys) or "—"


def trust_answer(expected: str | None) -> str:
    from core.teaching.trust_quiz import CANDIDATE_WORDS

    return _(CANDIDATE_WORDS[expected]) if expected in CANDIDATE_WORDS else expected or "—"


students = results.students
st.caption(
    _(
        "{answers} from {students} in {quizzes}.",
        answers=ngettext("{n} answer", "{n} answers", len(results.rows)),
        students=ngettext("{n} student", "{n} students", len(students)),
        quizzes=ngettext("{n} quiz", "{n} quizzes", results.attempt_count),
    )
)
st.download_button(
    _("Download every answer (CSV)"),
    results.csv(),
    file_name="quiz_answers.csv",
    mime="text/csv",
    key="dash_csv",
    icon=":material/download:",
    help=_(
        "User names, case ids, answers, confidence, right or wrong, the model's label and "
        "probability, marks and times (UTC). No passwords or hashes."
    ),
)

by_case, by_source, attempts = results.by_case, results.by_source, results.attempts
tab_cases, tab_students, tab_sets = st.tabs([_("Per case"), _("Per student"), _("Per teaching set")])
lang = language()


with tab_cases:
    st.subheader(_("Cases, hardest first"))
    if not by_case:
        st.caption(
            _("No NORMAL/PNEUMONIA readings yet: only “Spot the shortcut” answers, summarised below and per student.")
        )
    right_word, wrong_word, none_word = _("model right"), _("model wrong"), _("no model output")
    chart = (
        None
        if not by_case
        else px.bar(
            x=[f"#{c.case_id}" for c in by_case],
            y=[c.student_accuracy for c in by_case],
            color=[
                right_word if c.model_right else wrong_word if c.model_right is False else none_word for c in by_case
            ],
            color_discrete_map={right_word: "#2e7d32", wrong_word: "#c62828", none_word: "#9e9e9e"},
            labels={"x": _("case"), "y": _("students right"), "color": ""},
        )
    )
    if chart is not None:
        chart.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=10, b=10))
        # "#12" is a case, not a number. Colour splits the bars into one trace per colour, and Plotly
        # orders categories trace by trace: the array keeps the table's hardest-first order.
        chart.update_xaxes(type="category", categoryorder="array", categoryarray=[f"#{c.case_id}" for c in by_case])
        st.plotly_chart(chart, key="dash_case_chart")
    header = st.columns([4, 2, 2, 3, 2]) if by_case else []
    for col, name in zip(header, (_("Case"), _("Truth"), _("Students right"), _("Model"), "")):
        col.markdown(f"**{name}**")
    for c in by_case[:SHOWN_CASES]:
        cols = st.columns([4, 2, 2, 3, 2])
        cols[0].markdown(f"#{c.case_id} · {md(c.title)}")
        cols[1].markdown(c.truth_label)
        cols[2].markdown(f"{pct(c.student_accuracy)} ({c.students_right}/{c.answers})")
        cols[3].markdown(
            "—"
            if c.model_label is None
            else _(
                N_("{label} (P(pneumonia) {p}) · right") if c.model_right else N_("{label} (P(pneumonia) {p}) · wrong"),
                label=c.model_label,
                p=percent(c.model_probability, language=lang),
            )
        )
        if cols[4].button(
            _("Open"),
            key=f"dash_open_{c.case_id}",
            icon=":material/open_in_new:",
            help=_("Open this case in the Case Gallery"),
        ):
            require_role("instructor")
            st.session_state[GALLERY_CASE_KEY] = c.case_id
            st.switch_page(GALLERY_PAGE)
    if len(by_case) > SHOWN_CASES:
        st.caption(
            _(
                "The {shown} hardest of {total} answered cases; the CSV has them all.",
                shown=SHOWN_CASES,
                total=len(by_case),
            )
        )
    spotted = results.shortcut
    if spotted:
        st.subheader(_("Spot the shortcut: where students placed the heatmap"))
        number_table(
            translated_columns(spotted, {"accepted answer": shortcut_answers}),
            percent=(_("right"),),
            key="dash_shortcut_table",
        )
    if results.trust:
        st.subheader(_("Which map can you trust? How often students picked the trained model's map"))
        number_table(
            translated_columns(results.trust, {"accepted answer": trust_answer}),
            percent=(_("right"),),
            key="dash_trust_table",
        )

with tab_students:
    st.subheader(_("Progress over time"))
    chosen = st.multiselect(
        _("Students"), students, default=students, key="dash_students", placeholder=choices_placeholder(students)
    )
    shown = [a for a in attempts if a.user in chosen]
    if shown:
        table = {
            "student": [plotly_label(a.user) for a in shown],
            "quiz started": [a.started_at for a in shown],
            "accuracy": [a.accuracy for a in shown],
            "Brier score": [a.brier for a in shown],
        }
        for y, fmt, title in (
            ("accuracy", ".0%", _("Accuracy per quiz")),
            ("Brier score", ".3f", _("Brier score per quiz (lower is better)")),
        ):
            fig = px.line(
                table,
                x="quiz started",
                y=y,
                color="student",
                markers=True,
                title=title,
                labels={
                    "quiz started": _("quiz started"),
                    "accuracy": _("accuracy"),
                    "student": _("student"),
                    "Brier score": _("Brier score"),
                },
            )
            fig.update_layout(yaxis_tickformat=fmt, height=300, margin=dict(t=40, b=10))
            st.plotly_chart(fig, key=f"dash_progress_{y}")
    summary = translated_columns(results.per_student(chosen))
    number_table(summary, percent=(_("accuracy"),), decimals={_("last quiz Brier"): 3}, key="dash_student_table")

with tab_sets:
    st.subheader(_("Teaching sets: the class and the model"))
    rates = (_("student accuracy"), _("model accuracy"), _("human–model agreement"))
    number_table(
        [
            {
                _("cases from"): x.source,
                _("students"): x.students,
                _("answers"): x.answers,
                rates[0]: x.student_accuracy,
                rates[1]: x.model_accuracy,
                rates[2]: x.agreement,
                _("compared on"): ngettext(
                    "{n} answer with a stored model output", "{n} answers with a stored model output", x.model_answers
                ),
            }
            for x in by_source
        ],
        percent=rates,
        key="dash_set_table",
    )
    if not by_source:
        st.caption(_("No NORMAL/PNEUMONIA readings yet, so there is nothing to compare with the model."))
    long = [
        (x.source, measure, value)
        for x in by_source
        for measure, value in (
            (_("students right"), x.student_accuracy),
            (_("model right"), x.model_accuracy),
            (_("students agree with the model"), x.agreement),
        )
        if value is not None
    ]
    if long:
        fig = px.bar(
            {"set": [plotly_label(v[0]) for v in long], "measure": [v[1] for v in long], "share": [v[2] for v in long]},
            x="set",
            y="share",
            color="measure",
            barmode="group",
            labels={"set": _("set"), "share": _("share"), "measure": ""},
        )
        fig.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=10, b=10))
        st.plotly_chart(fig, key="dash_set_chart")
    st.caption(
        _(
            "Agreement: the share of answers where the student said what the model said, whether or not "
            "either was right; only answers for which the model's output was stored count."
        )
    )
