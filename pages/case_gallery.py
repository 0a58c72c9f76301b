"""Case Gallery: browse the library, open a case, curate teaching sets. Thin layer over db/ and core/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.formatting import percent, share
from core.reliability.input_check import GuardVerdict
from core.safe_text import md, md_code, safe_filename
from core.vocabulary import CLASS_NAMES, DIFFICULTIES, UNCERTAIN_MARGIN, outcome
from db import repository as repo
from db import teaching
from db.codec import decode_png
from db.errors import LibraryError
from db.repository import SORTS, GalleryFilter
from pages import library_ui as ui
from pages.auth_ui import require_role
from pages.common import disclaimer, model_service, no_trained_model_notice
from pages.demo_seed_ui import gallery_status
from pages.i18n_ui import (
    N_,
    _,
    choices_placeholder,
    guard_reason,
    language,
    ngettext,
    outcome_name,
    shown_as,
    worded,
)
from pages.library_ui import (
    Unavailable,
    current_model_version,
    first_page_when_filters_change,
    library_or_stop,
    lost_connection_shown,
    session,
    show_page_position,
)

user = require_role("instructor")  # server-side: a user without the role gets this message and nothing else

# Filter choices: the keys are the widgets' values (English, kept in session_state) and are shown translated.
ANY = N_("Any")
TRUTH_CHOICES = {ANY: None, "NORMAL": "NORMAL", "PNEUMONIA": "PNEUMONIA", N_("Unlabelled"): "unlabelled"}
PRED_CHOICES = {ANY: None, "NORMAL": "NORMAL", "PNEUMONIA": "PNEUMONIA"}
OUTCOME_CHOICES = {
    ANY: None,
    N_("Correct"): "correct",
    N_("False positive"): "false_positive",
    N_("False negative"): "false_negative",
    N_("Any error"): "wrong",
}
# db.repository.SORTS' keys; its English labels stay in db/ (which has no catalogue) and are translated here.
SORT_NAMES = {
    "newest": N_("Newest first"),
    "oldest": N_("Oldest first"),
    "title": N_("Title A→Z"),
    "probability_desc": N_("P(pneumonia) high → low"),
    "probability_asc": N_("P(pneumonia) low → high"),
    "uncertain": N_("Most uncertain first"),
    "set_order": N_("Teaching-set order"),
}
DIFFICULTY_NAMES = {"easy": N_("easy"), "medium": N_("medium"), "hard": N_("hard")}
NO_LABEL = "none"  # the ground-truth choice and history entry for "no label"
COLUMNS = 4


def label_name(label: str | None) -> str:
    """A ground-truth label for display: NORMAL / PNEUMONIA as they are; none → "none" in the language."""
    return _("none") if label in (None, NO_LABEL) else str(label)


st.title(_("Case Gallery"))
lang = language()
disclaimer()
service = model_service()
model_version = current_model_version(service)
engine = library_or_stop()
if not service.info.trained:
    no_trained_model_notice()


FLASH_KEY = "gallery_flash"


def flash(kind: str, text: str) -> None:
    ui.flash(FLASH_KEY, kind, text)


def show_flash() -> None:
    ui.show_flash(FLASH_KEY)


def writer() -> str:
    """Who a change is recorded under: the logged-in user, never a name typed into a field."""
    return require_role("instructor").name


def act(fn, success: str | None = None) -> bool:
    """Run a library write; on success, say so after the rerun."""
    done = ui.write_shown(engine, fn)
    if done and success:
        flash("success", success)
    return done


def open_case(case_id: int) -> None:
    st.session_state["gallery_case"] = case_id


def set_options(s) -> dict[str, int]:
    """Teaching-set labels (name, size, published) → ids."""
    return {
        (
            ngettext("{name} ({n} case, published)", "{name} ({n} cases, published)", x.size, name=x.name)
            if x.published
            else ngettext("{name} ({n} case)", "{name} ({n} cases)", x.size, name=x.name)
        ): x.id
        for x in teaching.list_sets(s)
    }


# ---------- case detail ----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSnapshot:
    """What the detail view shows; kept in session_state so the page survives a lost connection."""

    id: int
    title: str
    source: str
    revision: int
    notes: str
    tags: tuple[str, ...]
    difficulty: str | None
    truth_label: str | None
    truth_set_by: str | None
    truth_set_at: str
    png: bytes
    size: tuple[int, int]
    prediction: dict | None
    history: tuple[tuple[str, str, str, str], ...]
    sets: tuple[tuple[int, str], ...]
    reference_text: str | None = None
    reference_by: str | None = None
    reference_at: str = "—"


def load_snapshot(s, case_id: int) -> CaseSnapshot:
    case = repo.get_case(s, case_id)
    pred = repo.case_prediction(s, case, model_version)
    return CaseSnapshot(
        id=case.id,
        title=case.title,
        source=case.source,
        revision=case.revision,
        notes=case.notes,
        tags=tuple(t.tag for t in case.tags),
        difficulty=case.difficulty,
        truth_label=case.truth_label,
        truth_set_by=case.truth_set_by,
        truth_set_at=repo.as_datetime_text(case.truth_set_at),
        png=case.image.png,
        size=(case.image.width, case.image.height),
        prediction=None
        if pred is None
        else {
            "label": pred.label,
            "probability": pred.probability,
            "threshold": pred.threshold,
            "model_version": pred.model_version,
            "cam": repo.prediction_cam(pred),
            "cam_target": pred.cam_target,
            "cam_summary": pred.cam_summary,
            "guard": pred.guard,
        },
        history=tuple(
            (repo.as_datetime_text(h.changed_at), h.changed_by, h.old_label or NO_LABEL, h.new_label or NO_LABEL)
            for h in repo.truth_history(s, case_id)
        ),
        sets=tuple((x.id, x.name) for x in teaching.sets_for_case(s, case_id)),
        reference_text=case.reference_text,
        reference_by=case.reference_by,
        reference_at=repo.as_datetime_text(case.reference_at),
    )


def case_viewer(snap: CaseSnapshot, gray) -> None:
    """The stored image in the viewer, with the stored Grad-CAM when there is a prediction."""
    from core.analysis import DISCLAIMER
    from core.exports.case_figures import case_figures, figures_json
    from pages.image_viewer import Downloads, image_viewer

    pred = snap.prediction
    image_viewer(
        gray,
        key=f"case_view_{snap.id}",
        caption=_("Stored image with the Grad-CAM for {target}", target=pred["cam_target"])
        if pred is not None
        else _("Stored image"),
        cam=None if pred is None else pred["cam"],
        downloads=Downloads(
            file_stem=f"case-{snap.id}",
            model_version=None if pred is None else pred["model_version"],
            figures_json=figures_json(
                case_figures(
                    notice=_(DISCLAIMER),
                    source={"kind": "library", "case_id": snap.id, "width": snap.size[0], "height": snap.size[1]},
                    label=None if pred is None else pred["label"],
                    probability=None if pred is None else pred["probability"],
                    model_version=None if pred is None else pred["model_version"],
                    cam_target=None if pred is None else pred["cam_target"],
                    cam=None if pred is None else pred["cam"],
                    cam_summary=None if pred is None else pred["cam_summary"],
                    truth_label=snap.truth_label,
                )
            ),
        ),
    )


def show_case(case_id: int) -> None:
    if st.button(_("Back to the gallery"), icon=":material/arrow_back:", key="case_back"):
        st.session_state.pop("gallery_case", None)
        st.rerun()
    cache = st.session_state.setdefault("case_snapshots", {})
    try:
        with lost_connection_shown(), session(engine) as s:
            snap = load_snapshot(s, case_id)
            all_sets = set_options(s)
        cache[case_id] = snap
    except Unavailable:
        snap, all_sets = cache.get(case_id), {}
        if snap is None:
            st.stop()
        st.caption(_("Showing the case as last loaded."))
    except LibraryError as exc:
        st.error(worded(exc))
        st.session_state.pop("gallery_case", None)
        st.stop()
    show_flash()

    st.subheader(_("Case #{id}: {title}", id=snap.id, title=md(snap.title)))
    st.caption(
        _("Source: {source} · {width}×{height} px", source=md(snap.source), width=snap.size[0], height=snap.size[1])
    )
    gray = decode_png(snap.png)
    pred = snap.prediction
    case_viewer(snap, gray)
    if pred is not None:
        top = st.columns(3)
        top[0].metric(_("Model output"), pred["label"])
        top[1].metric(_("Probability of pneumonia"), percent(pred["probability"], language=lang))
        top[2].metric(_("Model version"), pred["model_version"])
        stored_guard = GuardVerdict.from_dict(pred["guard"])
        if stored_guard is not None and stored_guard.unlike_training:
            st.warning(
                _(
                    "This chest X-ray is unlike the films the model was trained on (pediatric, one centre): "
                    "its output here is unreliable. ({reason}.)",
                    reason=guard_reason(stored_guard.reason),
                ),
                icon=":material/warning:",
            )
        result = outcome(snap.truth_label, pred["label"])
        if result:
            st.caption(_("Against the ground truth: **{outcome}**.", outcome=outcome_name(result)))
    elif model_version:
        st.info(
            _("No prediction from the installed model is stored for this case yet (`python -m db predict` adds them).")
        )
    else:
        st.info(_("No prediction is shown: no trained model is installed."))

    if pred is not None:
        st.markdown("#### " + _("Explanation Lab"))
        if st.toggle(_("Show every explanation method on this case"), key=f"case_explain_on_{snap.id}"):
            from pages.explain_grid import case_subject, explanation_grid

            subject = case_subject(engine, snap.id)
            if subject is not None:
                explanation_grid(subject, f"case_explain_{snap.id}")

    st.markdown("#### " + _("Report"))
    if pred is not None:
        from core.analysis import Analysis
        from core.imaging.decode import XRayImage
        from pages.report_panel import report_panel

        # The stored prediction, read back as the analysis it came from: nothing is recomputed.
        stored = Analysis(
            image=XRayImage(gray, "PNG", 0.0),
            probability=pred["probability"],
            label=pred["label"],
            threshold=pred["threshold"],
            model_version=pred["model_version"],
            model_trained=True,
            cam=pred["cam"],
            cam_target=pred["cam_target"],
            cam_summary=pred["cam_summary"],
            guard=GuardVerdict.from_dict(pred["guard"]),
        )
        report_panel(stored, key=f"case_report_{snap.id}", reference=snap.reference_text)
    else:
        st.caption(_("Reports are written from a stored prediction of the installed model; this case has none yet."))

    st.markdown("#### " + _("Notes and tags"))
    notes_key, tags_key, diff_key = f"notes_{snap.id}", f"tags_{snap.id}", f"difficulty_{snap.id}"
    st.session_state.setdefault(notes_key, snap.notes)
    st.session_state.setdefault(tags_key, ", ".join(snap.tags))
    st.session_state.setdefault(diff_key, snap.difficulty or "—")
    st.text_area(_("Notes"), key=notes_key, height=140)
    st.text_input(_("Tags (comma-separated)"), key=tags_key)
    st.selectbox(_("Difficulty"), ["—", *DIFFICULTIES], format_func=shown_as(DIFFICULTY_NAMES), key=diff_key)
    if st.button(_("Save notes and tags"), key=f"save_{snap.id}", type="primary"):
        difficulty = st.session_state[diff_key]
        if act(
            lambda s: repo.update_case(
                s,
                user.id,
                snap.id,
                snap.revision,
                notes=st.session_state[notes_key],
                tags=st.session_state[tags_key],
                difficulty=None if difficulty == "—" else difficulty,
            ),
            _("Notes and tags saved."),
        ):
            st.session_state.pop(tags_key, None)  # show the normalised tags
            st.rerun()

    st.markdown("#### " + _("Ground truth"))
    if snap.truth_label:
        st.caption(
            _(
                "Currently **{label}**, set by {who} on {when}.",
                label=snap.truth_label,
                who=md(snap.truth_set_by),
                when=snap.truth_set_at,
            )
        )
    else:
        st.caption(_("No ground truth recorded."))
    cols = st.columns([1, 1])
    labels = [NO_LABEL, *CLASS_NAMES]
    new_truth = cols[0].selectbox(
        _("Set ground truth"),
        labels,
        index=labels.index(snap.truth_label or NO_LABEL),
        format_func=shown_as({NO_LABEL: N_("none")}),
        key=f"truth_{snap.id}",
    )
    if cols[1].button(_("Record ground truth"), key=f"truth_save_{snap.id}"):
        who = writer()  # the logged-in instructor, checked again at the moment of writing
        if act(
            lambda s: repo.set_truth(
                s, user.id, snap.id, None if new_truth == NO_LABEL else new_truth, who, snap.revision
            ),
            _("Ground truth recorded."),
        ):
            st.rerun()
    if snap.history:
        with st.expander(_("Ground-truth history ({n})", n=len(snap.history))):
            st.table(
                [
                    {_("when"): w, _("who"): md(by), _("from"): label_name(old), _("to"): label_name(new)}
                    for w, by, old, new in snap.history
                ]
            )

    st.markdown("#### " + _("Instructor reference interpretation"))
    if snap.reference_text:
        st.caption(
            _(
                "Written by {who} on {when}. The report above is scored against it.",
                who=md(snap.reference_by),
                when=snap.reference_at,
            )
        )
    else:
        st.caption(
            _(
                "No reference yet. Write how you would interpret this image; reports are then scored against it "
                "(ROUGE-L, BLEU). Your user name is recorded with it. Saving an empty text removes the reference."
            )
        )
    ref_key = f"reference_{snap.id}"
    st.session_state.setdefault(ref_key, snap.reference_text or "")
    st.text_area(_("Instructor reference interpretation"), key=ref_key, height=140, max_chars=repo.MAX_REFERENCE_LENGTH)
    if st.button(_("Save reference"), key=f"reference_save_{snap.id}"):
        text, who = st.session_state[ref_key], writer()
        if act(
            lambda s: repo.set_reference(s, user.id, snap.id, text, who, snap.revision),
            _("Reference saved.") if text.strip() else _("Reference removed."),
        ):
            st.rerun()

    st.markdown("#### " + _("Teaching sets"))
    for set_id, name in snap.sets:
        c1, c2 = st.columns([4, 1])
        c1.markdown(md(name))
        if c2.button(_("Remove"), key=f"case_rm_{set_id}"):
            if act(
                lambda s, i=set_id: teaching.remove_from_set(s, user.id, i, snap.id),
                _("Removed from {name}.", name=md(name)),
            ):
                st.rerun()
    others = {label: i for label, i in all_sets.items() if i not in {x for x, _name in snap.sets}}
    if others:
        c1, c2 = st.columns([4, 1])
        target = c1.selectbox(_("Add to a teaching set"), list(others), key="case_add_set")
        if c2.button(_("Add"), key="case_add_btn"):
            if act(
                lambda s: teaching.add_to_set(s, user.id, others[target], [snap.id]),
                _("Added to the teaching set."),
            ):
                st.rerun()


# ---------- the grid -----------------------------------------------------------------------


# The grid's filters also live in the URL query: a widget forgets its value while it is not drawn (a case
# open, the Teaching sets view), and a filtered view's address can be shared. Each entry: widget key →
# (query name, default, to the query, from the query); a value the page does not offer is ignored.
Codec = tuple[str, object, Callable[[Any], list[str]], Callable[[list[str]], Any]]
PER_PAGE_CHOICES = [12, 24, 48]
DEFAULT_SORT, DEFAULT_PER_PAGE, FULL_RANGE = "newest", 24, (0.0, 1.0)


def choice_codec(name: str, choices: dict[str, Any]) -> Codec:
    """A selectbox whose values are `choices`' keys; the URL holds the key's code (None: not written)."""
    by_code = {str(code): value for value, code in choices.items() if code is not None}
    return (
        name,
        next(iter(choices)),
        lambda value: [] if choices.get(value) is None else [str(choices[value])],
        lambda texts: by_code[texts[0]],
    )


def probability_range(texts: list[str]) -> tuple[float, float]:
    low, high = (round(float(x), 2) for x in texts[0].split("-"))
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(texts[0])
    return low, high


def one_of(allowed, parse=str) -> Callable[[list[str]], Any]:
    def read(texts: list[str]):
        value = parse(texts[0])
        if value not in allowed:
            raise ValueError(value)
        return value

    return read


def url_filters(sets: dict[str, int], tags: list[str], sorts: list[str]) -> dict[str, Codec]:
    def unless(default):
        return lambda value: [] if value == default else [str(value)]

    return {
        "f_truth": choice_codec("truth", TRUTH_CHOICES),
        "f_pred": choice_codec("predicted", PRED_CHOICES),
        "f_outcome": choice_codec("outcome", OUTCOME_CHOICES),
        "f_set": choice_codec("set", {ANY: None, **sets}),
        "f_prob": (
            "p",
            FULL_RANGE,
            lambda v: [] if tuple(v) == FULL_RANGE else ["{:g}-{:g}".format(*v)],
            probability_range,
        ),
        "f_uncertain": ("uncertain", False, lambda v: ["1"] if v else [], lambda texts: texts[0] == "1"),
        "f_tags": ("tag", [], list, lambda texts: [t for t in texts if t in tags]),
        "f_text": ("q", "", unless(""), lambda texts: texts[0]),
        "f_sort": ("sort", DEFAULT_SORT, unless(DEFAULT_SORT), one_of(sorts)),
        "f_per_page": ("per_page", DEFAULT_PER_PAGE, unless(DEFAULT_PER_PAGE), one_of(PER_PAGE_CHOICES, int)),
        "f_page": ("page", 1, unless(1), one_of(range(1, 1_000_000), int)),
    }


def restore_filters(codecs: dict[str, Codec]) -> None:
    """Each filter widget without a value in this session takes the URL's, else its default."""
    for key, (name, default, _to_url, from_url) in codecs.items():
        if key in st.session_state:
            continue
        texts = st.query_params.get_all(name)
        try:
            st.session_state[key] = from_url(texts) if texts else default
        except (KeyError, ValueError, IndexError):
            st.session_state[key] = default


def write_filters_to_url(codecs: dict[str, Codec]) -> None:
    for key, (name, default, to_url, _from_url) in codecs.items():
        texts = to_url(st.session_state.get(key, default))
        if texts != st.query_params.get_all(name):
            if texts:
                st.query_params[name] = texts
            else:
                del st.query_params[name]


def current_filters() -> GalleryFilter:
    g = st.session_state.get
    prob = tuple(g("f_prob", FULL_RANGE))
    return GalleryFilter(
        truth=TRUTH_CHOICES[g("f_truth", ANY)],
        predicted=PRED_CHOICES[g("f_pred", ANY)] if model_version else None,
        outcome=OUTCOME_CHOICES[g("f_outcome", ANY)] if model_version else None,
        probability=prob if model_version and prob != FULL_RANGE else None,
        uncertain=bool(g("f_uncertain", False)) and bool(model_version),
        tags=list(g("f_tags", [])),
        set_id=st.session_state.get("_set_ids", {}).get(g("f_set", ANY)),
        text=g("f_text", ""),
    )


def reference_scores(referenced: dict[int, repo.ReferencedReport]) -> dict[int, str]:
    """'ROUGE-L 0.xx · BLEU yy' for the visible cases whose latest report has a reference to meet."""
    if not referenced:
        return {}
    from core.reports.scoring import score_report_content, scores_line

    return {
        case_id: scores_line(score_report_content(r.content, r.language, r.reference))
        for case_id, r in referenced.items()
    }


def show_grid() -> None:
    seeding = gallery_status()  # before the cases are read: a batch added meanwhile shows at the next refresh
    tags, sets, missing = ui.read_or_stop(
        engine,
        lambda s: (
            repo.all_tags(s),
            set_options(s),
            repo.count_without_prediction(s, model_version) if model_version else 0,
        ),
    )
    st.session_state["_set_ids"] = sets
    sorts = [k for k in SORTS if model_version or not k.startswith(("probability", "uncertain"))]
    codecs = url_filters(sets, tags, sorts)
    restore_filters(codecs)
    show_flash()
    if missing:
        c1, c2 = st.columns([3, 1])
        c1.caption(
            ngettext(
                "{n} case has no prediction from the installed model ({version}) yet.",
                "{n} cases have no prediction from the installed model ({version}) yet.",
                missing,
                version=model_version,
            )
        )
        if c2.button(_("Compute them now"), key="predict_missing"):
            from core.services.library_import import predict_missing

            if not ui.run_with_progress(
                _("Computing predictions"),
                lambda progress: predict_missing(engine, user.id, service, progress=progress),
            ):
                st.stop()
            st.rerun()

    with st.expander(_("Filters and sort"), expanded=True, icon=":material/filter_list:"):
        row = st.columns(4)
        choice = shown_as()  # the filter choices' keys are their msgids; NORMAL / PNEUMONIA stay
        row[0].selectbox(_("Ground truth"), list(TRUTH_CHOICES), format_func=choice, key="f_truth")
        no_model = (
            None if model_version else _("No trained model is installed, so there are no predictions to filter on.")
        )
        row[1].selectbox(
            _("Model output"),
            list(PRED_CHOICES),
            format_func=choice,
            key="f_pred",
            disabled=not model_version,
            help=no_model,
        )
        row[2].selectbox(
            _("Correct / error"),
            list(OUTCOME_CHOICES),
            format_func=choice,
            key="f_outcome",
            disabled=not model_version,
            help=no_model,
        )
        row[3].selectbox(_("Teaching set"), [ANY, *sets], format_func=shown_as({ANY: ANY}), key="f_set")
        row = st.columns(4)
        row[0].slider(_("P(pneumonia) range"), 0.0, 1.0, step=0.05, key="f_prob", disabled=not model_version)
        row[1].checkbox(
            _("Uncertain only"),
            key="f_uncertain",
            disabled=not model_version,
            help=_(
                "The model said it was not sure (probability in its uncertain band, or an unusual image); "
                "older predictions without that measure: probability within {margin} of the threshold",
                margin=share(UNCERTAIN_MARGIN, 0, lang),
            ),
        )
        row[2].multiselect(_("Tags (all of)"), tags, key="f_tags", placeholder=choices_placeholder(tags))
        row[3].text_input(_("Text in notes or title"), key="f_text")
        row = st.columns(4)
        row[0].selectbox(_("Sort"), sorts, format_func=shown_as(SORT_NAMES, SORTS.get), key="f_sort")
        row[1].selectbox(_("Per page"), PER_PAGE_CHOICES, key="f_per_page")

    filters = current_filters()
    first_page_when_filters_change("f_", filters)

    def read(s):
        page = repo.gallery_page(s, filters, model_version, **ui.paging("f_", DEFAULT_SORT, DEFAULT_PER_PAGE))
        return page, repo.latest_reports_with_reference(s, [r.case_id for r in page.rows])

    page, referenced = ui.read_or_stop(engine, read)

    arriving = seeding is not None and seeding.active
    show_page_position(
        page, _("The demo cases are on their way: the first ones appear in a few seconds.") if arriving else None
    )
    scores = reference_scores(referenced)
    for start in range(0, len(page.rows), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, row in zip(cols, page.rows[start : start + COLUMNS]):
            with col.container(border=True):
                st.image(row.thumbnail, width="stretch")
                st.markdown(f"**#{row.case_id} {md(row.title)}**")
                truth = row.truth_label or _("unlabelled")
                if row.predicted is not None:
                    verdict = f" · {outcome_name(row.outcome)}" if row.outcome else ""
                    st.caption(
                        _(
                            "Truth {truth} · model {predicted} (P(pneumonia) {p})",
                            truth=truth,
                            predicted=row.predicted,
                            p=percent(row.probability, language=lang),
                        )
                        + verdict
                    )
                else:
                    st.caption(_("Truth {truth}", truth=truth))
                if row.tags:
                    st.caption(" ".join(md_code(t) for t in row.tags))
                if row.case_id in scores:
                    st.caption(
                        scores[row.case_id],
                        help=_("Latest report against the instructor's reference: shared wording, not correctness."),
                    )
                c1, c2 = st.columns(2)
                c1.checkbox(_("Pick"), key=f"pick_{row.case_id}")
                c2.button(_("Open"), key=f"open_{row.case_id}", on_click=open_case, args=(row.case_id,))

    nav = st.columns([1, 1, 2])
    if st.session_state.get("f_page", 1) > page.pages:
        st.session_state["f_page"] = page.pages
    nav[0].number_input(_("Page"), 1, page.pages, key="f_page", step=1)
    write_filters_to_url(codecs)
    picked = [r.case_id for r in page.rows if st.session_state.get(f"pick_{r.case_id}")]
    if sets:
        target = nav[2].selectbox(_("Add picked cases to"), list(sets), key="grid_add_set")
        if nav[2].button(_("Add {n} picked case(s)", n=len(picked)), key="grid_add_btn", disabled=not picked):
            if act(
                lambda s: teaching.add_to_set(s, user.id, sets[target], picked),
                _("Added {n} case(s) to the set.", n=len(picked)),
            ):
                for case_id in picked:
                    st.session_state.pop(f"pick_{case_id}", None)
                st.rerun()
    else:
        nav[2].caption(_("Create a teaching set (view *Teaching sets*) to collect picked cases."))


# ---------- teaching sets ----------------------------------------------------------------------


def show_sets() -> None:
    show_flash()
    with st.expander(_("New teaching set"), icon=":material/add:"):
        name = st.text_input(_("Name"), key="ts_new_name")
        description = st.text_area(_("Description"), key="ts_new_description")
        if st.button(_("Create"), key="ts_create"):
            if act(
                lambda s: teaching.create_set(s, user.id, name, description), _("Created {name}.", name=md(repr(name)))
            ):
                st.rerun()
    with st.expander(_("Import a teaching-set zip"), icon=":material/upload:"):
        upload = st.file_uploader(
            _("Teaching-set zip (exported from a CXR Teaching Lab library)"), type=["zip"], key="ts_import"
        )
        if upload is not None and st.button(_("Import"), key="ts_import_btn"):
            from core.services.set_exchange import import_set

            box = {}
            if act(lambda s: box.setdefault("r", import_set(s, user.id, upload.getvalue()))):
                r = box["r"]
                flash(
                    "success",
                    _(
                        "Imported {name}: {added} new cases, {present} already in the library, "
                        "{in_set} added to the set.",
                        name=md(repr(r.set_name)),
                        added=r.cases_added,
                        present=r.cases_already_present,
                        in_set=r.added_to_set,
                    )
                    + "".join(f"\n\n{worded(n)}" for n in r.notes),
                )
                st.rerun()
    sets = ui.read_or_stop(engine, set_options)
    if not sets:
        st.info(_("No teaching sets yet: create one above, then pick cases in the gallery."))
        return
    label = st.selectbox(_("Teaching set"), list(sets), key="ts_select")
    set_id = sets[label]
    try:
        with lost_connection_shown(), session(engine) as s:
            row = teaching.get_set(s, set_id)
            info = (row.name, row.description, row.published)
            cases = [(c.id, c.title, c.truth_label, c.image.thumbnail) for c in teaching.set_cases(s, set_id)]
    except Unavailable:
        st.stop()
    except LibraryError as exc:
        st.error(worded(exc))
        return
    name, description, published = info
    st.subheader(md(name))
    st.caption(
        (_("Published") if published else _("Draft (not published)"))
        + " · "
        + ngettext("{n} case", "{n} cases", len(cases))
    )
    c1, c2 = st.columns([4, 1])
    new_name = c1.text_input(_("Name"), value=name, key=f"ts_name_{set_id}")
    if c2.button(_("Rename"), key=f"ts_rename_{set_id}"):
        if act(lambda s: teaching.rename_set(s, user.id, set_id, new_name), _("Renamed.")):
            st.session_state.pop("ts_select", None)
            st.rerun()
    new_description = st.text_area(_("Description"), value=description, key=f"ts_desc_{set_id}")
    b = st.columns(4)
    if b[0].button(_("Save description"), key=f"ts_desc_save_{set_id}"):
        if act(lambda s: teaching.describe_set(s, user.id, set_id, new_description), _("Description saved.")):
            st.rerun()
    if b[1].button(_("Unpublish") if published else _("Publish"), key=f"ts_publish_{set_id}"):
        if act(
            lambda s: teaching.publish_set(s, user.id, set_id, not published),
            _("Unpublished.") if published else _("Published."),
        ):
            st.rerun()
    if b[2].button(_("Prepare zip export"), key=f"ts_export_{set_id}", disabled=not cases):
        from core.services.set_exchange import export_set

        box = {}
        if act(lambda s: box.setdefault("zip", export_set(s, set_id))):
            st.session_state["ts_zip"] = (set_id, box["zip"])
    prepared = st.session_state.get("ts_zip")
    if prepared and prepared[0] == set_id:
        b[3].download_button(
            _("Download zip"),
            prepared[1],
            file_name=safe_filename(name, "zip", fallback="teaching-set"),
            mime="application/zip",
            key=f"ts_download_{set_id}",
        )
    for position, (case_id, title, truth, thumb) in enumerate(cases):
        with st.container(border=True):
            c = st.columns([1, 4, 1, 1, 1, 1])
            c[0].image(thumb, width=72)
            c[1].markdown(
                f"**{position + 1}. #{case_id} {md(title)}**  \n" + _("Truth {truth}", truth=truth or _("unlabelled"))
            )
            if c[2].button("↑", key=f"ts_up_{case_id}", disabled=position == 0, help=_("Move up")):
                if act(lambda s, i=case_id: teaching.move_in_set(s, user.id, set_id, i, -1)):
                    st.rerun()
            if c[3].button("↓", key=f"ts_down_{case_id}", disabled=position == len(cases) - 1, help=_("Move down")):
                if act(lambda s, i=case_id: teaching.move_in_set(s, user.id, set_id, i, 1)):
                    st.rerun()
            if c[4].button(_("Remove"), key=f"ts_rm_{case_id}"):
                if act(
                    lambda s, i=case_id: teaching.remove_from_set(s, user.id, set_id, i), _("Removed from the set.")
                ):
                    st.rerun()
            c[5].button(_("Open"), key=f"ts_open_{case_id}", on_click=open_case, args=(case_id,))
    with st.expander(_("Delete this set")):
        if st.checkbox(_("Yes, delete it (the cases stay in the library)"), key=f"ts_confirm_{set_id}"):
            if st.button(_("Delete set"), key=f"ts_delete_{set_id}"):
                if act(lambda s: teaching.delete_set(s, user.id, set_id), _("Deleted {name}.", name=md(repr(name)))):
                    st.session_state.pop("ts_select", None)
                    st.rerun()


case_id = st.session_state.get("gallery_case")
if case_id is not None:
    show_case(int(case_id))
else:
    view = st.radio(
        _("View"),
        [N_("Cases"), N_("Teaching sets")],
        format_func=shown_as(),
        horizontal=True,
        key="gallery_view",
        label_visibility="collapsed",
    )
    if view == "Cases":
        show_grid()
    else:
        show_sets()
