"""Instructors see where the class struggles: per case, per student, per teaching set, and a CSV of every answer.

Figures come from core.services.class_dashboard (what was stored with each answer); the page only lays them out.
"""

import plotly.express as px
import streamlit as st

from core.formatting import percent
from core.services.class_dashboard import class_results
from pages.auth_ui import require_role
from pages.common import disclaimer, number_table
from pages.library_ui import library_or_stop, read_or_stop

GALLERY_PAGE = "pages/case_gallery.py"
GALLERY_CASE_KEY = "gallery_case"  # what pages/case_gallery.py opens
SHOWN_CASES = 25

require_role("instructor")
st.title("Class dashboard")
disclaimer()
engine = library_or_stop()
results = read_or_stop(engine, class_results)
if not results.rows:
    st.info(
        "No quiz answers yet. When students take quizzes, their results show up here.",
        icon=":material/hourglass_empty:",
    )
    st.stop()


def pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


students = results.students
st.caption(f"{len(results.rows)} answer(s) from {len(students)} student(s) in {results.attempt_count} quiz(zes).")
st.download_button(
    "Download every answer (CSV)",
    results.csv(),
    file_name="quiz_answers.csv",
    mime="text/csv",
    key="dash_csv",
    icon=":material/download:",
    help="User names, case ids, answers, confidence, right or wrong, the model's label and "
    "probability, marks and times (UTC). No passwords or hashes.",
)

by_case, by_source, attempts = results.by_case, results.by_source, results.attempts
tab_cases, tab_students, tab_sets = st.tabs(["Per case", "Per student", "Per teaching set"])


with tab_cases:
    st.subheader("Cases, hardest first")
    if not by_case:
        st.caption(
            "No NORMAL/PNEUMONIA readings yet: only “Spot the shortcut” answers, summarised below and per student."
        )
    chart = (
        None
        if not by_case
        else px.bar(
            x=[f"#{c.case_id}" for c in by_case],
            y=[c.student_accuracy for c in by_case],
            color=[
                "model right" if c.model_right else "model wrong" if c.model_right is False else "no model output"
                for c in by_case
            ],
            color_discrete_map={"model right": "#2e7d32", "model wrong": "#c62828", "no model output": "#9e9e9e"},
            labels={"x": "case", "y": "students right", "color": ""},
        )
    )
    if chart is not None:
        chart.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=10, b=10))
        chart.update_xaxes(type="category")  # "#12" is a case, not a number
        st.plotly_chart(chart, key="dash_case_chart")
    header = st.columns([4, 2, 2, 3, 2]) if by_case else []
    for col, name in zip(header, ("Case", "Truth", "Students right", "Model", "")):
        col.markdown(f"**{name}**")
    for c in by_case[:SHOWN_CASES]:
        cols = st.columns([4, 2, 2, 3, 2])
        cols[0].markdown(f"#{c.case_id} · {c.title}")
        cols[1].markdown(c.truth_label)
        cols[2].markdown(f"{pct(c.student_accuracy)} ({c.students_right}/{c.answers})")
        cols[3].markdown(
            "—"
            if c.model_label is None
            else f"{c.model_label} {percent(c.model_probability)} · {'right' if c.model_right else 'wrong'}"
        )
        if cols[4].button(
            "Open",
            key=f"dash_open_{c.case_id}",
            icon=":material/open_in_new:",
            help="Open this case in the Case Gallery",
        ):
            require_role("instructor")
            st.session_state[GALLERY_CASE_KEY] = c.case_id
            st.switch_page(GALLERY_PAGE)
    if len(by_case) > SHOWN_CASES:
        st.caption(f"The {SHOWN_CASES} hardest of {len(by_case)} answered cases; the CSV has them all.")
    spotted = results.shortcut
    if spotted:
        st.subheader("Spot the shortcut: where students placed the heatmap")
        number_table(spotted, percent=("right",), key="dash_shortcut_table")
    if results.trust:
        st.subheader("Which map can you trust? How often students picked the trained model's map")
        number_table(results.trust, percent=("right",), key="dash_trust_table")

with tab_students:
    st.subheader("Progress over time")
    chosen = st.multiselect("Students", students, default=students, key="dash_students")
    shown = [a for a in attempts if a.user in chosen]
    if shown:
        table = {
            "student": [a.user for a in shown],
            "quiz started": [a.started_at for a in shown],
            "accuracy": [a.accuracy for a in shown],
            "Brier score": [a.brier for a in shown],
        }
        for y, fmt, title in (
            ("accuracy", ".0%", "Accuracy per quiz"),
            ("Brier score", ".3f", "Brier score per quiz (lower is better)"),
        ):
            fig = px.line(table, x="quiz started", y=y, color="student", markers=True, title=title)
            fig.update_layout(yaxis_tickformat=fmt, height=300, margin=dict(t=40, b=10))
            st.plotly_chart(fig, key=f"dash_progress_{y}")
    summary = results.per_student(chosen)
    number_table(summary, percent=("accuracy",), decimals={"last quiz Brier": 3}, key="dash_student_table")

with tab_sets:
    st.subheader("Teaching sets: the class and the model")
    number_table(
        [
            {
                "cases from": x.source,
                "students": x.students,
                "answers": x.answers,
                "student accuracy": x.student_accuracy,
                "model accuracy": x.model_accuracy,
                "human–model agreement": x.agreement,
                "compared on": f"{x.model_answers} answers with a stored model output",
            }
            for x in by_source
        ],
        percent=("student accuracy", "model accuracy", "human–model agreement"),
        key="dash_set_table",
    )
    if not by_source:
        st.caption("No NORMAL/PNEUMONIA readings yet, so there is nothing to compare with the model.")
    long = [
        (x.source, measure, value)
        for x in by_source
        for measure, value in (
            ("students right", x.student_accuracy),
            ("model right", x.model_accuracy),
            ("students agree with the model", x.agreement),
        )
        if value is not None
    ]
    if long:
        fig = px.bar(
            {"set": [v[0] for v in long], "measure": [v[1] for v in long], "share": [v[2] for v in long]},
            x="set",
            y="share",
            color="measure",
            barmode="group",
        )
        fig.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=10, b=10))
        st.plotly_chart(fig, key="dash_set_chart")
    st.caption(
        "Agreement: the share of answers where the student said what the model said, whether or not "
        "either was right; only answers for which the model's output was stored count."
    )
