"""Reading and writing cases, images and predictions. Callers own the transaction (session_scope).

The edits a person makes (notes, tags, ground truth, reference) take the acting user and check the
permission table first (db.permissions.require). Adding images, cases and predictions is done by
services that checked their own write first (core.services.library_import, set_exchange) or by the
operator's import; no page calls those directly (tests/test_security_roles.py holds that).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
from sqlalchemy import ColumnElement, Select, Table, and_, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from core.vocabulary import (
    CLASS_NAMES,
    DIFFICULTIES,
    LIMIT_FLAGS,
    N_,
    OUTCOMES,
    PLACEHOLDER_VERSION,
    UNCERTAIN_MARGIN,
    UNCERTAINTY_CUTOFF,
    outcome,
)
from db.codec import EncodedImage, pack_cam, unpack_cam
from db.errors import CaseChanged, LibraryError, NotFound
from db.models import (
    Case,
    CaseTag,
    Image,
    LibraryMeta,
    Prediction,
    PredictionFlag,
    Report,
    TeachingSet,
    TeachingSetItem,
    TruthChange,
    utcnow,
)
from db.paging import Page, page_window
from db.permissions import Actor, require

# core.models.classifier's name for its untrained stand-in; its outputs are never stored as predictions.
# "Uncertain": the stored uncertainty when there is one, else a probability this close to the threshold.
MAX_TAG_LENGTH = 64
MAX_TITLE_LENGTH = 200
UNCHANGED = object()  # 'leave this field as it is' (None means clear it)


# ---------- images and cases -------------------------------------------------------------


def _get_or_create(session: Session, model, lookup: dict, **values):
    """Insert unless a row matching `lookup` exists; safe against a concurrent insert of the same row."""
    found = session.scalars(select(model).filter_by(**lookup)).first()
    if found is not None:
        return found, False
    try:
        with session.begin_nested():  # a SAVEPOINT: losing the race undoes only this insert
            row = model(**lookup, **values)
            session.add(row)
            session.flush()
        return row, True
    except IntegrityError:
        found = session.scalars(select(model).filter_by(**lookup)).first()
        if found is None:
            raise
        return found, False


def add_image(session: Session, encoded: EncodedImage, source_format: str) -> tuple[Image, bool]:
    return _get_or_create(
        session,
        Image,
        {"sha256": encoded.sha256},
        width=encoded.width,
        height=encoded.height,
        source_format=source_format,
        png=encoded.png,
        thumbnail=encoded.thumbnail,
    )


def normalise_label(label: str | None) -> str | None:
    if label is None or label == "":
        return None
    upper = str(label).strip().upper()
    if upper not in CLASS_NAMES:
        raise LibraryError(
            N_("Unknown label {label!r}: use one of {choices} or leave it empty."),
            label=label,
            choices=", ".join(CLASS_NAMES),
        )
    return upper


def add_case(
    session: Session,
    image: Image,
    title: str,
    source: str,
    truth_label: str | None = None,
    truth_set_by: str | None = None,
) -> tuple[Case, bool]:
    """The case for this image, created if new. An existing case is returned unchanged."""
    truth = normalise_label(truth_label)
    now = utcnow()
    case, created = _get_or_create(
        session,
        Case,
        {"image_id": image.id},
        title=(title.strip() or "Untitled case")[:MAX_TITLE_LENGTH],
        source=source[:200],
        truth_label=truth,
        truth_set_by=(truth_set_by if truth else None),
        truth_set_at=(now if truth else None),
        notes="",
        revision=1,
        created_at=now,
        updated_at=now,
    )
    if created and truth:
        session.add(
            TruthChange(
                case_id=case.id, old_label=None, new_label=truth, changed_by=truth_set_by or "unknown", changed_at=now
            )
        )
    return case, created


def case_for_sha(session: Session, sha256: str) -> Case | None:
    return session.scalars(select(Case).join(Image).where(Image.sha256 == sha256)).first()


def known_hashes(session: Session, hashes: list[str]) -> set[str]:
    """Which of these image hashes already have a case."""
    if not hashes:
        return set()
    rows = session.scalars(select(Image.sha256).join(Case, Case.image_id == Image.id).where(Image.sha256.in_(hashes)))
    return set(rows)


# ---------- predictions -------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionRecord:
    model_version: str
    probability: float
    label: str
    threshold: float
    cam: np.ndarray  # (h, w) in 0..1
    cam_target: str
    cam_summary: dict
    uncertainty: float | None = None
    guard: dict | None = None
    limits: dict | None = None  # core.explain.limits' per-prediction dict (see notes/limits-spec.md)
    lung_mask: bytes | None = None  # core.explain.limits.pack_mask of the 224×224 lung mask


def add_prediction(session: Session, image_id: int, record: PredictionRecord) -> tuple[Prediction, bool]:
    """Store a prediction once per image and model version (a second call returns the first).

    A second call that brings limits the stored prediction lacks fills them in, so a re-import after
    the segmenter arrived completes older rows instead of ignoring the new figures.
    """
    if record.model_version == PLACEHOLDER_VERSION:
        raise LibraryError(N_("The untrained placeholder's output is not a prediction and is never stored."))
    cam = np.asarray(record.cam, dtype=np.float32)
    limits = None if record.limits is None else clean_limits(record.limits)
    prediction, created = _get_or_create(
        session,
        Prediction,
        {"image_id": image_id, "model_version": record.model_version},
        probability=float(record.probability),
        label=normalise_label(record.label),
        threshold=float(record.threshold),
        uncertainty=None if record.uncertainty is None else float(record.uncertainty),
        cam=pack_cam(cam),
        cam_height=int(cam.shape[0]),
        cam_width=int(cam.shape[1]),
        cam_target=record.cam_target,
        cam_summary=record.cam_summary,
        guard=record.guard,
        limits=limits,
        lung_share=None if limits is None else limits["lung_share"],
        lung_mask=None if limits is None else record.lung_mask,
    )
    if limits is not None:
        if created:
            _write_flags(session, prediction.id, limits["flags"])
        elif prediction.limits is None:
            _store_limits(session, prediction, limits, record.lung_mask)
    return prediction, created


# ---------- model limits on predictions ----------------------------------------------------


def _plain(value):
    """numpy scalars/arrays → Python numbers/lists, so the dict is valid JSON on every backend."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def clean_limits(limits: dict) -> dict:
    """Check the figures the gallery relies on; returns a JSON-plain copy. Refuses (LibraryError) anything else."""
    if not isinstance(limits, dict):
        raise LibraryError(N_("The limits figures must be a dict."))
    try:
        plain = json.loads(json.dumps(limits, default=_plain))
    except (TypeError, ValueError) as exc:
        raise LibraryError(N_("The limits figures cannot be stored as JSON: {reason}."), reason=exc) from None
    share = plain.get("lung_share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) or not 0 <= share <= 1:
        raise LibraryError(N_("limits['lung_share'] must be a number from 0 to 1, not {share!r}."), share=share)
    flags = plain.get("flags", [])
    if not isinstance(flags, list) or any(f not in LIMIT_FLAGS for f in flags):
        raise LibraryError(
            N_("limits['flags'] must list some of {choices}; got {flags!r}."),
            choices=", ".join(LIMIT_FLAGS),
            flags=flags,
        )
    plain["flags"] = [f for f in LIMIT_FLAGS if f in flags]  # the order of FLAGS, no repeats
    plain["lung_share"] = float(share)
    return plain


def _write_flags(session: Session, prediction_id: int, flags: list[str]) -> None:
    session.add_all(PredictionFlag(prediction_id=prediction_id, flag=f) for f in flags)
    session.flush()


def _store_limits(session: Session, prediction: Prediction, limits: dict, lung_mask: bytes | None) -> None:
    prediction.limits, prediction.lung_share, prediction.lung_mask = limits, limits["lung_share"], lung_mask
    # Declarative types __table__ as FromClause; for a mapped class like this one it is a Table.
    flags = cast(Table, PredictionFlag.__table__)
    session.execute(flags.delete().where(PredictionFlag.prediction_id == prediction.id))
    _write_flags(session, prediction.id, limits["flags"])


def set_prediction_limits(session: Session, prediction_id: int, limits: dict, lung_mask: bytes | None) -> Prediction:
    """Attach (or replace) the limits figures, lung mask and flags of a stored prediction (back-fill)."""
    prediction = session.get(Prediction, prediction_id)
    if prediction is None:
        raise NotFound(N_("Prediction {prediction_id} is not in the library."), prediction_id=prediction_id)
    _store_limits(session, prediction, clean_limits(limits), lung_mask)
    return prediction


class PendingLimits(NamedTuple):
    prediction_id: int
    image_id: int


def predictions_without_limits(session: Session, model_version: str, limit: int | None = None) -> list[PendingLimits]:
    """This model version's predictions that have no limits figures yet, oldest image first."""
    query = (
        select(Prediction.id, Prediction.image_id)
        .where(Prediction.model_version == model_version, Prediction.lung_share.is_(None))
        .order_by(Prediction.image_id)
    )
    if limit:
        query = query.limit(limit)
    return [PendingLimits(*row) for row in session.execute(query)]


def count_without_limits(session: Session, model_version: str) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.model_version == model_version, Prediction.lung_share.is_(None))
        ).scalar_one()
    )


def prediction_cam(prediction: Prediction) -> np.ndarray:
    return unpack_cam(prediction.cam, prediction.cam_height, prediction.cam_width)


def images_without_prediction(session: Session, model_version: str, limit: int | None = None) -> list[int]:
    """Image ids of cases that have no prediction from this model version yet."""
    has = exists().where(Prediction.image_id == Case.image_id, Prediction.model_version == model_version)
    query = select(Case.image_id).where(~has).order_by(Case.image_id)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_without_prediction(session: Session, model_version: str) -> int:
    has = exists().where(Prediction.image_id == Case.image_id, Prediction.model_version == model_version)
    return session.execute(select(func.count()).select_from(Case).where(~has)).scalar_one()


# ---------- editing ------------------------------------------------------------------------


def normalise_tags(tags) -> list[str]:
    """'Air bronchogram,  Teaching ' → ['air bronchogram', 'teaching'] (lower case, de-duplicated)."""
    if isinstance(tags, str):
        tags = tags.split(",")
    out = []
    for tag in tags:
        tag = re.sub(r"\s+", " ", str(tag)).strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise LibraryError(N_("Tag {tag!r}… is longer than {most} characters."), tag=tag[:20], most=MAX_TAG_LENGTH)
        if tag not in out:
            out.append(tag)
    return out


T = TypeVar("T")


CASE_GONE = N_("Case {case_id} is not in the library (it may have been deleted).")


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(CASE_GONE, case_id=case_id)
    return case


def get_image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(N_("Image {image_id} is not in the library (it may have been deleted)."), image_id=image_id)
    return image


def lock_case(session: Session, case_id: int, expected_revision: int | None) -> Case:
    """The case, row-locked for this transaction; CaseChanged if someone saved it since `expected_revision`."""
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).first()
    if case is None:
        raise NotFound(CASE_GONE, case_id=case_id)
    if expected_revision is not None and case.revision != expected_revision:
        raise CaseChanged(
            N_(
                "Case {case_id} was changed by someone else since you opened it; your edit was not saved. "
                "Your text is still on the page: reload the case, then apply it again."
            ),
            case_id=case_id,
        )
    return case


def update_case(
    session: Session,
    actor: Actor,
    case_id: int,
    expected_revision: int | None,
    *,
    notes: str | None = None,
    tags=None,
    difficulty=UNCHANGED,
    title: str | None = None,
) -> Case:
    """Edit notes/tags/difficulty/title. `expected_revision` guards against overwriting a newer edit."""
    require(session, actor, "update_case")
    case = lock_case(session, case_id, expected_revision)
    if title is not None:
        if not title.strip():
            raise LibraryError(N_("A case needs a title."))
        case.title = title.strip()[:MAX_TITLE_LENGTH]
    if notes is not None:
        case.notes = notes
    if difficulty is not UNCHANGED:
        if difficulty not in (None, "", *DIFFICULTIES):
            raise LibraryError(N_("Difficulty must be one of {choices}."), choices=", ".join(DIFFICULTIES))
        case.difficulty = difficulty or None
    if tags is not None:
        wanted = normalise_tags(tags)
        current = {t.tag: t for t in case.tags}
        for tag, row in current.items():
            if tag not in wanted:
                case.tags.remove(row)
        for tag in wanted:
            if tag not in current:
                case.tags.append(CaseTag(tag=tag))
    case.revision += 1
    case.updated_at = utcnow()
    session.flush()
    return case


def add_tags(session: Session, actor: Actor, case_id: int, tags) -> None:
    """Add tags without touching the others (safe for concurrent taggers)."""
    require(session, actor, "add_case_tags")
    get_case(session, case_id)
    for tag in normalise_tags(tags):
        _get_or_create(session, CaseTag, {"case_id": case_id, "tag": tag})


def set_truth(
    session: Session,
    actor: Actor,
    case_id: int,
    label: str | None,
    changed_by: str,
    expected_revision: int | None = None,
) -> Case:
    """Change the ground truth and record who did it, when, and what it was before."""
    require(session, actor, "set_truth")
    who = (changed_by or "").strip()
    if not who:
        raise LibraryError(N_("Say who sets the ground truth (e.g. your name): the change is recorded."))
    new = normalise_label(label)
    case = lock_case(session, case_id, expected_revision)
    if case.truth_label == new:
        return case
    now = utcnow()
    session.add(
        TruthChange(case_id=case.id, old_label=case.truth_label, new_label=new, changed_by=who[:100], changed_at=now)
    )
    case.truth_label, case.truth_set_by, case.truth_set_at = new, (who[:100] if new else None), (now if new else None)
    case.revision += 1
    case.updated_at = now
    session.flush()
    return case


MAX_REFERENCE_LENGTH = 20_000


def set_reference(
    session: Session,
    actor: Actor,
    case_id: int,
    text: str | None,
    set_by: str,
    expected_revision: int | None = None,
) -> Case:
    """Write (or, with empty text, clear) the instructor's reference interpretation; who and when are kept."""
    require(session, actor, "set_reference")
    who = (set_by or "").strip()
    if not who:
        raise LibraryError(N_("Say who writes the reference interpretation (e.g. your name): it is recorded."))
    body = (text or "").strip()
    if len(body) > MAX_REFERENCE_LENGTH:
        raise LibraryError(
            N_("The reference is {length:,} characters long; keep it under {most:,}. Your text is still on the page."),
            length=len(body),
            most=MAX_REFERENCE_LENGTH,
        )
    case = lock_case(session, case_id, expected_revision)
    new = body or None
    if case.reference_text == new:
        return case
    now = utcnow()
    case.reference_text, case.reference_by, case.reference_at = (
        new,
        (who[:200] if new else None),
        (now if new else None),
    )
    case.revision += 1
    case.updated_at = now
    session.flush()
    return case


@dataclass(frozen=True)
class ReferencedReport:
    """A case's latest stored report next to the case's reference (for scoring on the gallery cards)."""

    case_id: int
    reference: str
    content: dict
    language: str


def latest_reports_with_reference(session: Session, case_ids: list[int]) -> dict[int, ReferencedReport]:
    """For those of `case_ids` that have a reference and a report: the newest report. One query."""
    if not case_ids:
        return {}
    newest_first = (
        func.row_number()
        .over(partition_by=Report.case_id, order_by=(Report.created_at.desc(), Report.id.desc()))
        .label("rank")
    )
    ranked = (
        select(Report.case_id, Report.content, Report.language, newest_first)
        .join(Case, Case.id == Report.case_id)
        .where(Report.case_id.in_(case_ids), Case.reference_text.is_not(None))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.case_id, ranked.c.content, ranked.c.language, Case.reference_text)
        .join(Case, Case.id == ranked.c.case_id)
        .where(ranked.c.rank == 1)
    )
    return {r[0]: ReferencedReport(r[0], r[3], r[1], r[2]) for r in rows}


def truth_history(session: Session, case_id: int) -> list[TruthChange]:
    return list(session.scalars(select(TruthChange).where(TruthChange.case_id == case_id).order_by(TruthChange.id)))


def all_tags(session: Session) -> list[str]:
    return list(session.scalars(select(CaseTag.tag).distinct().order_by(CaseTag.tag)))


def case_prediction(session: Session, case: Case, model_version: str | None) -> Prediction | None:
    if not model_version:
        return None
    return session.scalars(
        select(Prediction).where(Prediction.image_id == case.image_id, Prediction.model_version == model_version)
    ).first()


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(LibraryMeta, key)
    return row.value if row else None


def meta_once(session: Session, key: str, value: str) -> str:
    """The stored value of `key`, storing `value` first if there is none; a concurrent first writer wins."""
    row, _ = _get_or_create(session, LibraryMeta, {"key": key}, value=value)
    return row.value


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(LibraryMeta, key)
    if row is None:
        _get_or_create(session, LibraryMeta, {"key": key}, value=value)
        row = session.get(LibraryMeta, key)
        assert row is not None  # _get_or_create just inserted it or found the concurrent insert
    row.value = value


def stats(session: Session) -> dict[str, int]:
    def count(model) -> int:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())

    return {
        "cases": count(Case),
        "images": count(Image),
        "predictions": count(Prediction),
        "reports": count(Report),
        "teaching_sets": count(TeachingSet),
    }


# ---------- the gallery ----------------------------------------------------------------------

SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "title": "Title A→Z",
    "probability_desc": "P(pneumonia) high → low",
    "probability_asc": "P(pneumonia) low → high",
    "uncertain": "Most uncertain first",
    "set_order": "Teaching-set order",
}


@dataclass
class GalleryFilter:
    truth: str | None = None  # "NORMAL" | "PNEUMONIA" | "unlabelled" | None (any)
    predicted: str | None = None  # needs a model version
    outcome: str | None = None  # one of OUTCOMES
    probability: tuple[float, float] | None = None
    uncertain: bool = False
    tags: list[str] = field(default_factory=list)
    set_id: int | None = None
    text: str = ""
    difficulty: str | None = None


@dataclass(frozen=True)
class GalleryRow:
    case_id: int
    title: str
    truth_label: str | None
    difficulty: str | None
    thumbnail: bytes
    predicted: str | None
    probability: float | None
    tags: tuple[str, ...]

    @property
    def outcome(self) -> str | None:
        return outcome(self.truth_label, self.predicted)


GalleryPage = Page[GalleryRow]


def _gallery_query(
    filters: GalleryFilter, model_version: str | None
) -> tuple[Select, type[Prediction], list[ColumnElement[bool]]]:
    pred = aliased(Prediction)
    conditions: list[ColumnElement[bool]] = []
    query = select(Case.id)
    if model_version:
        query = query.outerjoin(pred, and_(pred.image_id == Case.image_id, pred.model_version == model_version))
    if filters.truth == "unlabelled":
        conditions.append(Case.truth_label.is_(None))
    elif filters.truth:
        conditions.append(Case.truth_label == normalise_label(filters.truth))
    if filters.difficulty:
        conditions.append(Case.difficulty == filters.difficulty)
    if filters.text.strip():
        text = filters.text.strip()
        conditions.append(or_(Case.notes.icontains(text, autoescape=True), Case.title.icontains(text, autoescape=True)))
    if filters.tags:
        tags = normalise_tags(filters.tags)
        tagged = (
            select(CaseTag.case_id)
            .where(CaseTag.tag.in_(tags))
            .group_by(CaseTag.case_id)
            .having(func.count(CaseTag.tag) == len(tags))
        )
        conditions.append(Case.id.in_(tagged))
    if filters.set_id is not None:
        conditions.append(exists().where(TeachingSetItem.case_id == Case.id, TeachingSetItem.set_id == filters.set_id))
    wants_prediction = (
        filters.predicted
        or filters.outcome
        or filters.uncertain
        or (filters.probability is not None and tuple(filters.probability) != (0.0, 1.0))
    )
    if wants_prediction:
        if not model_version:
            # No trained model: nothing has a prediction to filter on.
            conditions.append(false())
        else:
            conditions.append(pred.id.is_not(None))
            if filters.predicted:
                conditions.append(pred.label == normalise_label(filters.predicted))
            if filters.probability is not None:
                lo, hi = filters.probability
                conditions.append(pred.probability.between(float(lo), float(hi)))
            if filters.uncertain:
                conditions.append(
                    or_(
                        and_(pred.uncertainty.is_not(None), pred.uncertainty >= UNCERTAINTY_CUTOFF),
                        and_(
                            pred.uncertainty.is_(None), func.abs(pred.probability - pred.threshold) < UNCERTAIN_MARGIN
                        ),
                    )
                )
            if filters.outcome:
                if filters.outcome not in OUTCOMES:
                    raise LibraryError(N_("Unknown outcome {outcome!r}."), outcome=filters.outcome)
                conditions.append(Case.truth_label.is_not(None))
                conditions.append(
                    {
                        "correct": pred.label == Case.truth_label,
                        "wrong": pred.label != Case.truth_label,
                        "false_positive": and_(pred.label == "PNEUMONIA", Case.truth_label == "NORMAL"),
                        "false_negative": and_(pred.label == "NORMAL", Case.truth_label == "PNEUMONIA"),
                    }[filters.outcome]
                )
    if conditions:
        query = query.where(*conditions)
    return query, pred, conditions


def gallery_page(
    session: Session,
    filters: GalleryFilter,
    model_version: str | None = None,
    sort: str = "newest",
    page: int = 1,
    per_page: int = 24,
) -> GalleryPage:
    """One page of cases matching `filters`; predictions are those of `model_version` only."""
    if sort not in SORTS:
        raise LibraryError(N_("Unknown sort {sort!r}."), sort=sort)
    query, pred, _ = _gallery_query(filters, model_version)
    total, page, per_page = page_window(session, query, page, per_page, most=200)

    # Mixed column types; a plain list would be inferred as InstrumentedAttribute[object].
    columns: list[InstrumentedAttribute[Any]] = [
        Case.id,
        Case.title,
        Case.truth_label,
        Case.difficulty,
        Image.thumbnail,
    ]
    columns += [pred.label, pred.probability] if model_version else []
    rows_query = query.with_only_columns(*columns).join(Image, Image.id == Case.image_id)
    prob = pred.probability if model_version else None
    if sort == "set_order" and filters.set_id is not None:
        position = (
            select(TeachingSetItem.position)
            .where(TeachingSetItem.case_id == Case.id, TeachingSetItem.set_id == filters.set_id)
            .scalar_subquery()
        )
        order = [position.asc()]
    elif sort in ("probability_desc", "probability_asc", "uncertain") and prob is not None:
        order = {
            "probability_desc": [prob.desc().nulls_last()],
            "probability_asc": [prob.asc().nulls_last()],
            "uncertain": [func.abs(prob - pred.threshold).asc().nulls_last()],
        }[sort]
    elif sort == "oldest":
        order = [Case.created_at.asc()]
    elif sort == "title":
        order = [Case.title.asc()]
    else:
        order = [Case.created_at.desc()]
    tiebreak = (
        Case.id.asc() if sort in ("oldest", "title", "probability_asc", "uncertain", "set_order") else Case.id.desc()
    )
    rows_query = rows_query.order_by(*order, tiebreak).offset((page - 1) * per_page).limit(per_page)
    found = session.execute(rows_query).all()

    ids = [r[0] for r in found]
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for case_id, tag in session.execute(
            select(CaseTag.case_id, CaseTag.tag).where(CaseTag.case_id.in_(ids)).order_by(CaseTag.tag)
        ):
            tags[case_id].append(tag)
    rows = [
        GalleryRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5] if model_version else None,
            (float(r[6]) if r[6] is not None else None) if model_version else None,
            tuple(tags[r[0]]),
        )
        for r in found
    ]
    return GalleryPage(rows, total, page, per_page)


def case_ids_matching(session: Session, filters: GalleryFilter, model_version: str | None = None) -> list[int]:
    query, _, _ = _gallery_query(filters, model_version)
    return list(session.scalars(query.order_by(Case.id)))


def describe_outcome(outcome: str | None) -> str:
    return {"correct": "correct", "false_positive": "false positive", "false_negative": "false negative"}.get(
        outcome or "", ""
    )


def as_datetime_text(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"
