"""Students test themselves against the library (and the model). Logic: core.services.quiz and core.teaching.quiz_rules.

Before an answer is stored, this page holds only the attempt id, the question's position and the
student's click in st.session_state and shows only the pixels; the truth is read from the
database at reveal time.

Modes: core.teaching.quiz_rules.MODES says what a mode is; VIEWS at the bottom says how this page asks and
reveals it. A new mode adds one entry to each.
"""

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.explain.view import fit_for_display
from core.formatting import number, percent, share
from core.safe_text import md
from core.services import quiz
from core.teaching.quiz_rules import MODES, score
from db.codec import decode_png
from db.errors import LibraryError
from db.teaching import list_sets
from pages.auth_ui import require_role
from pages.common import disclaimer, model_service, number_table
from pages.i18n_ui import N_, _, language, ngettext, shown_as, worded
from pages.image_viewer import Downloads, image_viewer, mark_view_of
from pages.library_ui import Unavailable, current_model_version, library_or_stop, lost_connection_shown, session

ATTEMPT, POSITION = "quiz_attempt", "quiz_position"
ASKED_LENGTH = "quiz_asked_length"  # (attempt id, cases asked for): a shorter quiz says so
# Keyboard: answer and go on without the mouse; Streamlit shows each key on its button.
ANSWER_SHORTCUT, NEXT_SHORTCUT = "Ctrl+Enter", "N"

user = require_role("student")
st.title(_("Quiz"))
disclaimer()
lang = language()
engine = library_or_stop()
model_version = current_model_version(model_service())


def next_case_button(attempt_id: int, position: int, total: int) -> None:
    last = position + 1 >= total
    if st.button(
        _("See the result") if last else _("Next case"),
        key=f"quiz_next_{attempt_id}_{position}",
        icon=":material/arrow_forward:",
        shortcut=NEXT_SHORTCUT,
    ):
        st.session_state[POSITION] = position + 1
        st.rerun()


def db_call(fn, *args, **kwargs):
    """Run one library call in its own transaction; a refusal is shown and returns None."""
    return _in_session(False, fn, *args, **kwargs)


def db_read(fn, *args, **kwargs):
    """db_call for a call that only reads: on SQLite it does not wait for the write lock."""
    return _in_session(True, fn, *args, **kwargs)


def _in_session(read_only: bool, fn, *args, **kwargs):
    try:
        with lost_connection_shown(), session(engine, read_only=read_only) as s:
            return fn(s, *args, **kwargs)
    except LibraryError as exc:
        st.error(worded(exc))
    except Unavailable:
        pass
    return None


def mode_label(mode: str) -> str:
    return _(MODES[mode].label) if mode in MODES else mode


def source_name(source: str) -> str:
    """An attempt's source: a teaching set's name, or the random draw (stored in English)."""
    return _(quiz.RANDOM_SOURCE) if source == quiz.RANDOM_SOURCE else source


def sure(confidence: float) -> str:
    return share(confidence, 0, lang)


def show_streak(col) -> None:
    """The one streak the quiz shows (core.services.quiz.streaks_of), in one metric."""
    current, best = db_read(quiz.streaks_of, user.id) or (0, 0)
    col.metric(
        _("Streak (best)"),
        f"{current} ({best})",
        help=_("Right answers in a row across all your quizzes: now, and your longest run (in brackets)."),
    )


def running_score(attempt_id: int, mode: str) -> None:
    answers = db_read(quiz.attempt_answers, attempt_id, user.id) or []
    s = score(answers)
    cols = st.columns(4)
    cols[0].metric(_("Your accuracy"), f"{s.correct}/{s.answered}" if s.answered else "—")
    cols[1].metric(
        _("Your Brier score"),
        "—" if s.brier is None else number(s.brier, 3, lang),
        help=_("0 is perfect; always 50 % scores 0.250"),
    )
    show_streak(cols[2])
    if MODES[mode].needs_model and MODES[mode].reading:
        cols[3].metric(
            _("Model"),
            f"{s.model_correct}/{s.model_answered}" if s.model_answered else "—",
            help=_(
                "Model Brier score: {score}", score="—" if s.model_brier is None else number(s.model_brier, 3, lang)
            ),
        )


def start_form() -> None:
    sets = db_read(lambda s: list_sets(s, published_only=True)) or []
    sources = {None: _(quiz.RANDOM_SOURCE)} | {
        t.id: ngettext("{name} ({n} case)", "{name} ({n} cases)", t.size, name=t.name) for t in sets
    }
    with st.form("quiz_start"):
        source = st.selectbox(_("Cases from"), list(sources), format_func=sources.get, key="quiz_source")
        mode = st.radio(
            _("Mode"),
            list(VIEWS),
            format_func=shown_as({m: MODES[m].label for m in VIEWS}),
            horizontal=True,
            key="quiz_mode",
            help="\n\n".join(f"**{mode_label(m)}**: {_(MODES[m].help)}" for m in VIEWS),
        )
        length = st.number_input(_("Number of cases"), 1, quiz.MAX_LENGTH, 5, key="quiz_length")
        started = st.form_submit_button(_("Start the quiz"), icon=":material/play_arrow:", key="quiz_start_btn")
    if started:
        require_role("student")
        if MODES[mode].needs_model and model_version is None:
            st.error(_("“{mode}” needs a trained model; none is installed.", mode=mode_label(mode)))
            return
        attempt = db_call(quiz.start_attempt, user.id, mode, int(length), set_id=source, model_version=model_version)
        if attempt is not None:
            st.session_state[ATTEMPT], st.session_state[POSITION] = attempt.id, 0
            st.session_state[ASKED_LENGTH] = (attempt.id, int(length))
            st.rerun()
    if model_version is None:
        st.caption(
            _(
                "No trained model is installed: “{versus}” is unavailable and reveals show no model output.",
                versus=mode_label("versus"),
            )
        )


def show_history(with_streak: bool) -> None:
    """The student's past quizzes; the streak too unless the running score above already shows it."""
    past = db_read(quiz.history, user.id) or []
    if not past:
        return
    st.subheader(_("Your history"))
    due = db_read(quiz.review_due, user.id) or []
    cols = st.columns(2)
    if with_streak:
        show_streak(cols[0])
    cols[1].metric(
        _("Cases under review"),
        db_read(quiz.under_review, user.id) or 0,
        help=_(
            "Cases you missed come back until you get them right three times in a row: in your next "
            "quiz, then after 2 quizzes, then after 4. Due in your next quiz: {n}.",
            n=len(due),
        ),
    )
    columns = {  # the table's column names in the session's language
        "started": _("started"),
        "cases from": _("cases from"),
        "mode": _("mode"),
        "answered": _("answered"),
        "accuracy": _("accuracy"),
        "Brier": _("Brier"),
        "model accuracy": _("model accuracy"),
    }
    rows = []
    for attempt, answers in past:
        s, kind = score(answers), MODES.get(attempt.mode)
        rows.append(
            {
                columns["started"]: attempt.started_at.strftime("%Y-%m-%d %H:%M"),
                columns["cases from"]: source_name(attempt.source),
                columns["mode"]: mode_label(attempt.mode),
                columns["answered"]: f"{s.answered}/{len(attempt.case_ids)}"
                + ("" if attempt.finished_at else " · " + _("in progress")),
                columns["accuracy"]: s.accuracy,
                columns["Brier"]: s.brier,
                columns["model accuracy"]: s.model_accuracy if kind and kind.needs_model else None,
            }
        )
    number_table(
        rows,
        percent=(columns["accuracy"], columns["model accuracy"]),
        decimals={columns["Brier"]: 3},
        key="quiz_history_table",
    )


def current_mark(mark_key: str, view_key: str, shape: tuple[int, int]) -> tuple[float, float] | None:
    """The student's click on this question as fractions of the whole image, unless they removed it.

    A click is mapped once, through the zoomed area shown when it was made: zooming later leaves the mark put.
    """
    from core.teaching.click_marks import to_fractions

    click = st.session_state.get(mark_key)
    if not click or click.get("unix_time") == st.session_state.get(f"{mark_key}_removed"):
        return None
    mapped = st.session_state.get(f"{mark_key}_mapped")
    if mapped is None or mapped[0] != click.get("unix_time"):
        shown = to_fractions(click["x"], click["y"], click["width"], click["height"])
        mapped = (click.get("unix_time"), mark_view_of(view_key, shape).to_image(shown))
        st.session_state[f"{mark_key}_mapped"] = mapped
    return mapped[1]


def remove_mark(mark_key: str) -> None:
    st.session_state[f"{mark_key}_removed"] = st.session_state[mark_key]["unix_time"]


def ask_reading(attempt_id: int, position: int) -> None:
    """The image alone; the student may click where they see the finding, then answers with a confidence."""
    q = db_read(quiz.question, attempt_id, user.id, position)
    if q is None:
        return
    st.subheader(_("Case {position} of {total}", position=position + 1, total=q.total))
    mark_key, view_key = f"quiz_mark_{attempt_id}_{position}", f"quiz_view_{attempt_id}_{position}"
    gray = decode_png(q.png)
    shape = fit_for_display(gray).shape
    mark = current_mark(mark_key, view_key, shape)
    st.caption(_("Optional: click on the image where you see the finding (click again to move your mark)."))
    image_viewer(
        gray,
        key=view_key,
        caption=_("The image (window/level changes only what you see)"),
        mark=mark,
        mark_key=mark_key,
    )
    if mark:
        cols = st.columns([3, 1])
        cols[0].caption(
            _(
                "Your mark: {across} across, {down} down. It is stored with your answer.",
                across=share(mark[0], 0, lang),
                down=share(mark[1], 0, lang),
            )
        )
        cols[1].button(
            _("Remove my mark"),
            key=f"{mark_key}_remove",
            on_click=remove_mark,
            args=(mark_key,),
            icon=":material/close:",
        )
    with st.form(f"quiz_q_{attempt_id}_{position}"):
        answer = st.radio(
            _("Your reading"),
            ("NORMAL", "PNEUMONIA"),
            index=None,
            horizontal=True,
            key=f"quiz_answer_{attempt_id}_{position}",
        )
        confidence = st.slider(
            _("How sure are you? (%)"),
            50,
            100,
            75,
            5,
            key=f"quiz_conf_{attempt_id}_{position}",
            help=_("50 % is a coin flip; 100 % is certain."),
        )
        submitted = st.form_submit_button(
            _("Answer"), icon=":material/check:", key=f"quiz_submit_{attempt_id}_{position}", shortcut=ANSWER_SHORTCUT
        )
    if submitted:
        if answer is None:
            st.error(_("Choose a reading first."))
            return
        require_role("student")
        if (
            db_call(
                quiz.record_answer,
                attempt_id,
                user.id,
                position,
                answer,
                confidence / 100,
                mark=current_mark(mark_key, view_key, shape),
            )
            is not None
        ):
            st.rerun()


def stored_report(case_id: int | None, model_version: str | None):
    """The case's latest stored report, read only at reveal time (it names the model's output)."""
    from core.services.report_store import SqlReportStore

    if case_id is None:
        return None
    try:
        with lost_connection_shown():
            return SqlReportStore(engine).latest_for_case(case_id, prefer_model_version=model_version)
    except Unavailable:
        return None


def show_reveal(attempt_id: int, position: int, total: int) -> None:
    r = db_read(quiz.reveal, attempt_id, user.id, position)
    if r is None:
        return
    from core.reports.render import to_markdown
    from core.teaching.click_marks import HOT, cam_value_at
    from pages.report_panel import report_downloads

    st.subheader(_("Case {position} of {total}: {title}", position=position + 1, total=total, title=md(r.title)))
    (st.success if r.correct else st.error)(
        _(
            N_("Right: the ground truth is **{truth}**; you said {answer} at {confidence}.")
            if r.correct
            else N_("Not this time: the ground truth is **{truth}**; you said {answer} at {confidence}."),
            truth=r.truth_label,
            answer=r.answer,
            confidence=sure(r.confidence),
        )
    )
    gray = decode_png(r.png) if r.png else None
    has_map = r.model_label is not None and r.cam is not None and gray is not None
    if gray is not None:
        if has_map:
            caption = _("Grad-CAM: where the model looked for {target}", target=r.cam_target) + (
                " · ○ " + _("your mark") if r.mark else ""
            )
        else:
            caption = _("The image with your mark") if r.mark else _("The image")
        image_viewer(
            gray,
            key=f"quiz_reveal_view_{attempt_id}_{position}",
            caption=caption,
            cam=r.cam if has_map else None,
            mark=r.mark,
            downloads=Downloads(file_stem=f"quiz-{attempt_id}-case-{position + 1}", model_version=r.model_version),
        )
    if r.model_label is not None:
        st.info(
            _(
                N_("The model ({version}) said **{label}** — probability of pneumonia {p} — and was right.")
                if r.model_label == r.truth_label
                else N_("The model ({version}) said **{label}** — probability of pneumonia {p} — and was wrong."),
                version=r.model_version,
                label=r.model_label,
                p=percent(r.model_probability, language=lang),
            ),
            icon=":material/smart_toy:",
        )
        if has_map:
            if r.mark:
                value = cam_value_at(r.cam, r.mark, gray.shape)
                if value >= HOT:
                    st.markdown(
                        _(
                            "**Your mark is in a hot region** of the model's map (value {value} ≥ {hot}): "
                            "you and the model looked at the same place.",
                            value=number(value, 2, lang),
                            hot=HOT,
                        )
                    )
                else:
                    st.markdown(
                        _(
                            "**Your mark is outside the model's hot regions** (map value {value} < {hot}): "
                            "the model's score rose mostly elsewhere.",
                            value=number(value, 2, lang),
                            hot=HOT,
                        )
                    )
    else:
        st.caption(_("No stored prediction of the installed model for this case."))
    if r.mark and not has_map:
        st.caption(
            _("Your mark is drawn on the image; without a stored Grad-CAM map it cannot be compared with the model.")
        )
    elif not r.mark:
        st.caption(_("You did not mark a finding on this case."))
    instructor_notes(r.notes)
    record = stored_report(r.case_id, r.model_version)
    if record is not None:
        with st.expander(_("The stored report on this case"), expanded=True, icon=":material/description:"):
            st.markdown(to_markdown(record))
            report_downloads(record, f"quiz_report_{attempt_id}_{position}")
    else:
        st.caption(_("No report is stored for this case yet."))
    next_case_button(attempt_id, position, total)


def instructor_notes(notes: str) -> None:
    st.markdown(
        _("**Instructor's notes.** {notes}", notes=md(notes))
        if notes.strip()
        else _("_No instructor's notes on this case._")
    )


def ask_shortcut(attempt_id: int, position: int) -> None:
    """The heatmap over the image with the lung outline; the student says what the model looked at."""
    from core.explain.gradcam import colour_bar, render_overlay
    from core.explain.limits import lung_contour_overlay, unpack_mask
    from core.teaching.shortcut import CHOICES

    q = db_read(quiz.heatmap_question, attempt_id, user.id, position)
    if q is None:
        return
    st.subheader(_("Case {position} of {total}: where did the model look?", position=position + 1, total=q.total))
    gray = decode_png(q.png)
    overlay = render_overlay(gray, q.cam)
    if q.lung_mask is not None:
        overlay = lung_contour_overlay(overlay, unpack_mask(q.lung_mask))
    cols = st.columns(2)
    cols[0].image(gray, caption=_("The image"), width="stretch")
    cols[1].image(overlay, caption=_("Grad-CAM (red = most attention); green line: the lung fields"), width="stretch")
    cols[1].image(colour_bar(512, 14), width="stretch")
    with st.form(f"quiz_q_{attempt_id}_{position}"):
        answer = st.radio(
            _("The heatmap mostly sits…"),
            list(CHOICES),
            format_func=shown_as(CHOICES),
            index=None,
            key=f"quiz_answer_{attempt_id}_{position}",
        )
        confidence = st.slider(_("How sure are you? (%)"), 50, 100, 75, 5, key=f"quiz_conf_{attempt_id}_{position}")
        submitted = st.form_submit_button(
            _("Answer"), icon=":material/check:", key=f"quiz_submit_{attempt_id}_{position}", shortcut=ANSWER_SHORTCUT
        )
    if submitted:
        if answer is None:
            st.error(_("Choose where the heatmap sits first."))
            return
        require_role("student")
        if db_call(quiz.record_answer, attempt_id, user.id, position, answer, confidence / 100) is not None:
            st.rerun()


def reveal_shortcut(attempt_id: int, position: int, total: int) -> None:
    from core.explain.limits import unpack_mask
    from core.teaching.shortcut import CHOICES
    from pages.limits_panel import flag_title

    r = db_read(quiz.reveal, attempt_id, user.id, position)
    if r is None:
        return
    st.subheader(_("Case {position} of {total}: {title}", position=position + 1, total=total, title=md(r.title)))

    def choice(c: str) -> str:
        return _(CHOICES[c]).lower() if c in CHOICES else c

    expected = _(" or ").join(f"**{choice(c)}**" for c in r.expected)
    (st.success if r.correct else st.error)(
        _(
            N_("Right: the heatmap sat {expected}; you said {answer} at {confidence}.")
            if r.correct
            else N_("Not this time: the heatmap sat {expected}; you said {answer} at {confidence}."),
            expected=expected,
            answer=choice(r.answer),
            confidence=sure(r.confidence),
        )
    )
    st.caption(_("Scored on: {basis}.", basis=shortcut_basis(r.expected_basis or "")))
    if r.png and r.cam is not None and r.limits is not None:
        cols = st.columns([3, 2])
        with cols[0]:
            image_viewer(
                decode_png(r.png),
                key=f"quiz_reveal_view_{attempt_id}_{position}",
                caption=_("Grad-CAM, lung fields (green) and detected markers (pink)"),
                cam=r.cam,
                lung_mask=unpack_mask(r.lung_mask) if r.lung_mask is not None else None,
                marker_boxes=list(r.limits.get("markers", [])),
                downloads=Downloads(file_stem=f"quiz-{attempt_id}-case-{position + 1}", model_version=r.model_version),
            )
        m = r.limits
        cols[1].markdown(
            _(
                "- on the lung fields: **{lung}** of the heatmap\n"
                "- on the border frame: **{border}**\n"
                "- on text markers: **{marker}** ({found} found)\n"
                "- between the lungs: **{mediastinum}**, below them: **{below}**\n"
                "- flags: {flags}",
                lung=sure(m["lung_share"]),
                border=sure(m["border_share"]),
                marker=sure(m["marker_share"]),
                found=len(m.get("markers", [])),
                mediastinum=sure(m.get("mediastinum_share", 0)),
                below=sure(m.get("below_diaphragm_share", 0)),
                flags=", ".join(flag_title(f) for f in m.get("flags", [])) or _("none"),
            )
        )
    instructor_notes(r.notes)
    next_case_button(attempt_id, position, total)


def shortcut_basis(basis: str) -> str:
    """ShortcutTruth.basis (stored in English, parts joined by "; ") in the session's language."""
    import re

    from core.teaching import shortcut as sc
    from pages.limits_panel import flag_title, tag_name

    def names(text: str, name) -> str:
        return ", ".join(name(x) for x in text.split(", ") if x)

    patterns = (  # template → (its English as a pattern, how its value is shown)
        (sc.BASIS_MOSTLY_OUTSIDE, "share", str),
        (sc.BASIS_FLAGS, "flags", lambda v: names(v, lambda f: flag_title(f.replace(" ", "_")))),
        (sc.BASIS_REJECTED, "flags", lambda v: names(v, lambda f: flag_title(f.replace(" ", "_")))),
        (sc.BASIS_TAGS, "tags", lambda v: names(v, tag_name)),
    )
    shown = []
    for part in basis.split("; "):
        if part == sc.BASIS_NOTHING:
            shown.append(_(sc.BASIS_NOTHING))
            continue
        for template, field, show in patterns:
            head, tail = template.split("{" + field + "}")
            found = re.fullmatch(re.escape(head) + "(.*)" + re.escape(tail), part)
            if found:
                shown.append(_(template, **{field: show(found.group(1))}))
                break
        else:
            shown.append(_(part))  # a fixed basis (the trust quiz's) is a msgid; anything else shows as it is
    return "; ".join(shown)


def ask_trust(attempt_id: int, position: int) -> None:
    """Three maps of the case as A, B, C; the page never holds which one is the trained model's."""
    from core.explain.display import map_overlay
    from core.explain.limits import unpack_mask
    from core.services.trust_quiz import trust_question
    from core.teaching.trust_quiz import LETTERS

    key = f"quiz_trust_{attempt_id}_{position}"
    if key not in st.session_state:  # computed once per question; reruns reuse the pictures
        q = db_call(trust_question, model_service(), attempt_id, user.id, position)
        if q is None:
            return
        st.session_state[key] = q
    q = st.session_state[key]
    st.subheader(_("Case {position} of {total}: which map explains the model?", position=position + 1, total=q.total))
    st.caption(
        _(
            "Each map claims to show where the model found evidence for {target}. One comes from the trained "
            "model; the others do not depend on what it learnt. Same colour scale for all three; green: the lung "
            "fields.",
            target=q.target,
        )
    )
    mask = unpack_mask(q.lung_mask) if q.lung_mask is not None else None
    map_names = {letter: _("Map {letter}", letter=letter) for letter in LETTERS}
    cols = st.columns(len(LETTERS))
    for col, letter, heat in zip(cols, LETTERS, q.maps):
        col.image(map_overlay(q.gray224, heat, "viridis", 0.6, mask), caption=map_names[letter], width="stretch")
    with st.form(f"quiz_q_{attempt_id}_{position}"):
        answer = st.radio(
            _("The map that explains the model is…"),
            list(LETTERS),
            format_func=map_names.get,
            index=None,
            horizontal=True,
            key=f"quiz_answer_{attempt_id}_{position}",
        )
        confidence = st.slider(_("How sure are you? (%)"), 50, 100, 75, 5, key=f"quiz_conf_{attempt_id}_{position}")
        submitted = st.form_submit_button(
            _("Answer"), icon=":material/check:", key=f"quiz_submit_{attempt_id}_{position}", shortcut=ANSWER_SHORTCUT
        )
    if submitted:
        if answer is None:
            st.error(_("Choose a map first."))
            return
        require_role("student")
        if db_call(quiz.record_answer, attempt_id, user.id, position, answer, confidence / 100) is not None:
            st.rerun()


def reveal_trust(attempt_id: int, position: int, total: int) -> None:
    from core.explain.display import map_overlay
    from core.explain.limits import unpack_mask
    from core.services.trust_quiz import revealed_order
    from core.teaching.trust_quiz import BASIS, CANDIDATE_WORDS, LETTERS, TRAINED

    r = db_read(quiz.reveal, attempt_id, user.id, position)
    order = db_call(revealed_order, attempt_id, user.id, position)
    if r is None or order is None:
        return
    st.subheader(_("Case {position} of {total}: {title}", position=position + 1, total=total, title=md(r.title)))
    right = LETTERS[order.index(TRAINED)]

    def words(candidate: str) -> str:
        return _(CANDIDATE_WORDS[candidate]) if candidate in CANDIDATE_WORDS else candidate

    (st.success if r.correct else st.error)(
        _(
            N_("Right: map {letter} is {trained}; you chose {chosen} at {confidence}.")
            if r.correct
            else N_("Not this time: map {letter} is {trained}; you chose {chosen} at {confidence}."),
            letter=right,
            trained=words(TRAINED),
            chosen=words(r.answer),
            confidence=sure(r.confidence),
        )
    )
    st.caption(_("Why: {basis}.", basis=_(BASIS)))
    q = st.session_state.get(f"quiz_trust_{attempt_id}_{position}")
    if q is not None:
        mask = unpack_mask(q.lung_mask) if q.lung_mask is not None else None
        cols = st.columns(len(LETTERS))
        for col, letter, heat, candidate in zip(cols, LETTERS, q.maps, order):
            col.image(
                map_overlay(q.gray224, heat, "viridis", 0.6, mask),
                caption=_("Map {letter}: {what}", letter=letter, what=words(candidate)),
                width="stretch",
            )
    st.markdown(
        _(
            "A map that hardly changes when the model is scrambled, or that an edge detector draws with no model at "
            "all, explains the picture rather than the model: the model-randomisation sanity check (Adebayo et al., "
            "2018). The Explain page shows this check for every method."
        )
    )
    instructor_notes(r.notes)
    next_case_button(attempt_id, position, total)


@dataclass(frozen=True)
class ModeView:
    """How this page asks a question and reveals the answer in one mode (see core.teaching.quiz_rules.MODES)."""

    ask: Callable[[int, int], None]
    reveal: Callable[[int, int, int], None]


VIEWS = {
    "diagnose": ModeView(ask_reading, show_reveal),
    "versus": ModeView(ask_reading, show_reveal),
    "shortcut": ModeView(ask_shortcut, reveal_shortcut),
    "trust": ModeView(ask_trust, reveal_trust),
}


def resume_unfinished() -> int | None:
    """After a reload or a new login: the quiz left unfinished, at its first unanswered case."""
    unfinished = db_read(quiz.unfinished_attempt, user.id)
    if unfinished is None:
        return None
    st.session_state[ATTEMPT] = unfinished.id
    st.session_state[POSITION] = db_read(quiz.answered_count, unfinished.id) or 0
    st.toast(_("Your unfinished quiz continues where you stopped."), icon=":material/restore:")
    return unfinished.id


def end_quiz_button(attempt_id: int) -> None:
    if st.button(_("End this quiz now"), key=f"quiz_end_{attempt_id}", icon=":material/stop:"):
        require_role("student")
        if db_call(quiz.end_attempt, attempt_id, user.id) is not None:
            st.session_state.pop(ATTEMPT, None)
            st.session_state.pop(POSITION, None)
            st.rerun()


attempt_id = st.session_state.get(ATTEMPT)
if attempt_id is None:
    attempt_id = resume_unfinished()
if attempt_id is None:
    start_form()
    show_history(with_streak=True)
    st.stop()

attempt = db_read(quiz.get_attempt, attempt_id, user.id)
answers = db_read(quiz.attempt_answers, attempt_id, user.id) if attempt is not None else None
if answers is None:  # the library is down, or the attempt is gone
    st.stop()
mode, total = attempt.mode, len(attempt.case_ids)
reviews = db_read(quiz.review_cases, attempt_id, user.id) or []
st.caption(
    f"{mode_label(mode)} · {md(source_name(attempt.source))}"
    + (" · " + _("{n} case(s) you missed before are back for review", n=len(reviews)) if reviews else "")
)
position = min(st.session_state.get(POSITION, 0), len(answers))
asked_for = st.session_state.get(ASKED_LENGTH)
if asked_for is not None and asked_for[0] == attempt_id and asked_for[1] > total and position == 0:
    st.info(
        ngettext(
            "You asked for {asked} cases, but only {n} case can be used for this quiz "
            "(it needs a ground truth, and what this mode needs): the quiz has {n}.",
            "You asked for {asked} cases, but only {n} cases can be used for this quiz "
            "(they need a ground truth, and what this mode needs): the quiz has {n}.",
            total,
            asked=asked_for[1],
        ),
        icon=":material/info:",
    )
if position < total:
    running_score(attempt_id, mode)
    if position >= len(answers):
        VIEWS[mode].ask(attempt_id, position)
    else:
        VIEWS[mode].reveal(attempt_id, position, total)
    if attempt.finished_at is None:
        end_quiz_button(attempt_id)
else:
    st.subheader(_("Quiz finished"))
    running_score(attempt_id, mode)
    if st.button(_("Take another quiz"), key="quiz_again", icon=":material/replay:"):
        st.session_state.pop(ATTEMPT, None)
        st.session_state.pop(POSITION, None)
        st.rerun()
    show_history(with_streak=False)
