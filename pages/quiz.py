"""Students test themselves against the library (and the model). Logic: db.quiz and core.quiz.

Before an answer is stored, this page holds only the attempt id and the question's position in
st.session_state and shows only the pixels; the truth is read from the database at reveal time.
"""
import streamlit as st

from core.quiz import score
from db import quiz
from db.codec import decode_png
from db.errors import LibraryError
from db.teaching import list_sets
from pages.auth_ui import require_role
from pages.common import disclaimer, model_service
from pages.library_ui import Unavailable, current_model_version, guard, library, session

MODES = {"diagnose": "Diagnose", "versus": "You vs the model"}
ATTEMPT, POSITION = "quiz_attempt", "quiz_position"

user = require_role("student")
st.title("Quiz")
disclaimer()
engine = library()
if engine is None:
    st.stop()
model_version = current_model_version(model_service())


def db_call(fn, *args, **kwargs):
    """Run one library call in its own transaction; a refusal is shown and returns None."""
    try:
        with guard(), session(engine) as s:
            return fn(s, *args, **kwargs)
    except LibraryError as exc:
        st.error(str(exc))
    except Unavailable:
        pass
    return None


def pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def running_score(attempt_id: int, mode: str) -> None:
    answers = db_call(quiz.attempt_answers, attempt_id, user.id) or []
    s = score(answers)
    cols = st.columns(4)
    cols[0].metric("Your accuracy", f"{s.correct}/{s.answered}" if s.answered else "—")
    cols[1].metric("Your Brier score", "—" if s.brier is None else f"{s.brier:.3f}", help="0 is perfect; always 50 % scores 0.250")
    cols[2].metric("Streak (best)", f"{s.current_streak} ({s.best_streak})")
    if mode == "versus":
        cols[3].metric("Model", f"{s.model_correct}/{s.model_answered}" if s.model_answered else "—",
                       help=f"Model Brier score: {'—' if s.model_brier is None else f'{s.model_brier:.3f}'}")


def start_form() -> None:
    sets = db_call(lambda s: list_sets(s, published_only=True)) or []
    sources = {None: quiz.RANDOM_SOURCE} | {t.id: f"{t.name} ({t.size} cases)" for t in sets}
    with st.form("quiz_start"):
        source = st.selectbox("Cases from", list(sources), format_func=sources.get, key="quiz_source")
        mode = st.radio("Mode", list(MODES), format_func=MODES.get, horizontal=True, key="quiz_mode",
                        help="“You vs the model” keeps a running score of you and the model on the same cases.")
        length = st.number_input("Number of cases", 1, quiz.MAX_LENGTH, 5, key="quiz_length")
        started = st.form_submit_button("Start the quiz", icon=":material/play_arrow:", key="quiz_start_btn")
    if started:
        require_role("student")
        attempt = db_call(quiz.start_attempt, user.id, mode, int(length), set_id=source, model_version=model_version)
        if attempt is not None:
            st.session_state[ATTEMPT], st.session_state[POSITION] = attempt.id, 0
            st.rerun()
    if model_version is None:
        st.caption("No trained model is installed: “You vs the model” is unavailable and reveals show no model output.")


def show_history() -> None:
    past = db_call(quiz.history, user.id) or []
    if not past:
        return
    st.subheader("Your history")
    rows = []
    for attempt, answers in past:
        s = score(answers)
        rows.append({"started": attempt.started_at.strftime("%Y-%m-%d %H:%M"), "cases from": attempt.source,
                     "mode": MODES.get(attempt.mode, attempt.mode), "answered": f"{s.answered}/{len(attempt.case_ids)}",
                     "accuracy": pct(s.accuracy), "Brier": "—" if s.brier is None else round(s.brier, 3),
                     "best streak": s.best_streak, "model accuracy": pct(s.model_accuracy) if attempt.mode == "versus" else ""})
    st.dataframe(rows, hide_index=True)


def ask(attempt_id: int, position: int) -> None:
    q = db_call(quiz.question, attempt_id, user.id, position)
    if q is None:
        return
    st.subheader(f"Case {position + 1} of {q.total}")
    st.image(decode_png(q.png), width=448)
    with st.form(f"quiz_q_{attempt_id}_{position}"):
        answer = st.radio("Your reading", ("NORMAL", "PNEUMONIA"), index=None, horizontal=True,
                          key=f"quiz_answer_{attempt_id}_{position}")
        confidence = st.slider("How sure are you? (%)", 50, 100, 75, 5, key=f"quiz_conf_{attempt_id}_{position}",
                               help="50 % is a coin flip; 100 % is certain.")
        submitted = st.form_submit_button("Answer", icon=":material/check:", key=f"quiz_submit_{attempt_id}_{position}")
    if submitted:
        if answer is None:
            st.error("Choose a reading first.")
            return
        require_role("student")
        if db_call(quiz.record_answer, attempt_id, user.id, position, answer, confidence / 100) is not None:
            st.rerun()


def show_reveal(attempt_id: int, position: int, total: int) -> None:
    r = db_call(quiz.reveal, attempt_id, user.id, position)
    if r is None:
        return
    st.subheader(f"Case {position + 1} of {total}: {r.title}")
    (st.success if r.correct else st.error)(
        f"{'Right' if r.correct else 'Not this time'}: the ground truth is **{r.truth_label}**; "
        f"you said {r.answer} at {r.confidence:.0%}.")
    cols = st.columns(2)
    gray = decode_png(r.png) if r.png else None
    if gray is not None:
        cols[0].image(gray, caption="The image", width="stretch")
    if r.model_label is not None:
        st.info(f"The model ({r.model_version}) said **{r.model_label}** — probability of pneumonia "
                f"{r.model_probability:.1%} — and was {'right' if r.model_label == r.truth_label else 'wrong'}.",
                icon=":material/smart_toy:")
        if r.cam is not None and gray is not None:
            from core.cam import colour_bar, render_overlay

            cols[1].image(render_overlay(gray, r.cam), caption=f"Grad-CAM: where the model looked for {r.cam_target}",
                          width="stretch")
            cols[1].image(colour_bar(512, 14), width="stretch")
    else:
        st.caption("No stored prediction of the installed model for this case.")
    if r.notes.strip():
        st.markdown(f"**Instructor's notes.** {r.notes}")
    last = position + 1 >= total
    if st.button("See the result" if last else "Next case", key=f"quiz_next_{attempt_id}_{position}",
                 icon=":material/arrow_forward:"):
        st.session_state[POSITION] = position + 1
        st.rerun()


attempt_id = st.session_state.get(ATTEMPT)
if attempt_id is None:
    start_form()
    show_history()
    st.stop()

attempt = db_call(quiz.get_attempt, attempt_id, user.id)
answers = db_call(quiz.attempt_answers, attempt_id, user.id) if attempt is not None else None
if answers is None:  # the library is down, or the attempt is gone
    st.stop()
mode, total = attempt.mode, len(attempt.case_ids)
st.caption(f"{MODES[mode]} · {attempt.source}")
position = min(st.session_state.get(POSITION, 0), len(answers))
if position < total:
    running_score(attempt_id, mode)
    if position >= len(answers):
        ask(attempt_id, position)
    else:
        show_reveal(attempt_id, position, total)
else:
    st.subheader("Quiz finished")
    running_score(attempt_id, mode)
    if st.button("Take another quiz", key="quiz_again", icon=":material/replay:"):
        st.session_state.pop(ATTEMPT, None)
        st.session_state.pop(POSITION, None)
        st.rerun()
    show_history()
