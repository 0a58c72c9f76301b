"""The Model Limits gallery's data: flagged predictions, reviewers' verdicts and tags, summary figures.

The figures themselves (core.explain.limits) are stored on the prediction by db.repository.add_prediction /
set_prediction_limits; this module reads them back. Every function answers with a fixed number of
queries, whatever the page size (no query per case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session

from core.vocabulary import LIMIT_FLAGS, N_, REVIEW_TAGS, VERDICTS, outcome
from db.codec import unpack_cam
from db.errors import LibraryError, NotFound
from db.models import Case, FlagReview, Image, LimitTag, Prediction, PredictionFlag, utcnow
from db.paging import Page, page_window
from db.permissions import Actor, require
from db.repository import get_case

ERROR_TYPES = {"correct": "Correct", "false_positive": "False positive", "false_negative": "False negative"}
REVIEW_STATES = {"unreviewed": "Has an unreviewed flag", "confirmed": "A flag confirmed", "rejected": "A flag rejected"}
LIMITS_SORTS = {
    "lung_share": "Heatmap furthest from the lungs first (lowest in-lung share)",
    "marker_delta": "Largest change in P(pneumonia) when the marker is erased first",
}
MAX_REVIEWER_LENGTH = 100


def _check_flags(flags) -> list[str]:
    flags = list(flags or [])
    unknown = [f for f in flags if f not in LIMIT_FLAGS]
    if unknown:
        raise LibraryError(
            N_("Unknown flag {flag!r}: use one of {choices}."), flag=unknown[0], choices=", ".join(LIMIT_FLAGS)
        )
    return flags


def _check_tags(tags) -> list[str]:
    tags = list(dict.fromkeys(tags or []))
    unknown = [t for t in tags if t not in REVIEW_TAGS]
    if unknown:
        raise LibraryError(
            N_("Unknown tag {tag!r}: use one of {choices}."), tag=unknown[0], choices=", ".join(REVIEW_TAGS)
        )
    return tags


def _who(name: str) -> str:
    who = " ".join((name or "").split())
    if not who:
        raise LibraryError(N_("Say who reviews (your user name is recorded with the review)."))
    return who[:MAX_REVIEWER_LENGTH]


# ---------- the gallery ------------------------------------------------------------------------


@dataclass
class LimitsFilter:
    flags: list[str] = field(default_factory=list)  # any of
    tags: list[str] = field(default_factory=list)  # reviewer tags, any of
    error: str | None = None  # one of ERROR_TYPES
    review: str | None = None  # one of REVIEW_STATES; about the flags filtered on (all flags if none)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reviewer: str
    reviewed_at: datetime


@dataclass(frozen=True)
class LimitsRow:
    case_id: int
    title: str
    truth_label: str | None
    thumbnail: bytes
    predicted: str
    probability: float
    lung_share: float
    limits: dict
    cam: np.ndarray
    lung_mask: bytes | None
    tags: tuple[str, ...]
    verdicts: dict[str, Verdict]

    @property
    def outcome(self) -> str | None:
        return outcome(self.truth_label, self.predicted)

    @property
    def flags(self) -> list[str]:
        return list(self.limits.get("flags", []))


LimitsPage = Page[LimitsRow]


def _latest_reviews(model_version: str, case_ids: list[int] | None = None):
    """The newest review per (case, flag) under this model version (ids only grow, so max(id) is the latest)."""
    newest = select(func.max(FlagReview.id)).where(FlagReview.model_version == model_version)
    if case_ids is not None:
        newest = newest.where(FlagReview.case_id.in_(case_ids))
    newest = newest.group_by(FlagReview.case_id, FlagReview.flag)
    return select(
        FlagReview.case_id, FlagReview.flag, FlagReview.verdict, FlagReview.reviewer, FlagReview.reviewed_at
    ).where(FlagReview.id.in_(newest))


def _limits_query(filters: LimitsFilter, model_version: str) -> Select:
    """Cases whose prediction by `model_version` carries limits figures, narrowed by `filters`."""
    query = (
        select(Case.id)
        .join(Prediction, and_(Prediction.image_id == Case.image_id, Prediction.model_version == model_version))
        .where(Prediction.lung_share.is_not(None))
    )
    flags = _check_flags(filters.flags)
    if flags:
        query = query.where(
            exists().where(PredictionFlag.prediction_id == Prediction.id, PredictionFlag.flag.in_(flags))
        )
    tags = _check_tags(filters.tags)
    if tags:
        query = query.where(exists().where(LimitTag.case_id == Case.id, LimitTag.tag.in_(tags)))
    if filters.error:
        if filters.error not in ERROR_TYPES:
            raise LibraryError(
                N_("Unknown error type {error!r}: use one of {choices}."),
                error=filters.error,
                choices=", ".join(ERROR_TYPES),
            )
        query = query.where(
            Case.truth_label.is_not(None),
            {
                "correct": Prediction.label == Case.truth_label,
                "false_positive": and_(Prediction.label == "PNEUMONIA", Case.truth_label == "NORMAL"),
                "false_negative": and_(Prediction.label == "NORMAL", Case.truth_label == "PNEUMONIA"),
            }[filters.error],
        )
    if filters.review:
        if filters.review not in REVIEW_STATES:
            raise LibraryError(
                N_("Unknown review state {state!r}: use one of {choices}."),
                state=filters.review,
                choices=", ".join(REVIEW_STATES),
            )
        # Only the flags the prediction carries now count (a recomputed prediction may have lost one).
        own_flag = [PredictionFlag.prediction_id == Prediction.id] + ([PredictionFlag.flag.in_(flags)] if flags else [])
        if filters.review == "unreviewed":
            # Correlated explicitly: `cases` belongs to the outermost query, two levels up.
            reviewed = (
                exists()
                .where(
                    FlagReview.case_id == Case.id,
                    FlagReview.model_version == model_version,
                    FlagReview.flag == PredictionFlag.flag,
                )
                .correlate(Case, PredictionFlag)
            )
            query = query.where(exists().where(*own_flag, ~reviewed))
        else:
            latest = _latest_reviews(model_version).subquery()
            query = query.where(
                exists().where(
                    *own_flag,
                    latest.c.case_id == Case.id,
                    latest.c.flag == PredictionFlag.flag,
                    latest.c.verdict == filters.review,
                )
            )
    return query


def _marker_delta():
    return Prediction.limits[("counterfactual", "marker_delta")].as_float()


def limits_page(
    session: Session,
    filters: LimitsFilter,
    model_version: str,
    sort: str = "lung_share",
    page: int = 1,
    per_page: int = 12,
) -> LimitsPage:
    """One page of cases with limits figures; three queries (count, rows, tags) plus one for verdicts."""
    if sort not in LIMITS_SORTS:
        raise LibraryError(N_("Unknown sort {sort!r}."), sort=sort)
    query = _limits_query(filters, model_version)
    total, page, per_page = page_window(session, query, page, per_page, most=100)
    order: list[ColumnElement[Any]] = [Prediction.lung_share.asc(), Case.id.asc()]
    if sort == "marker_delta":
        order = [func.abs(_marker_delta()).desc().nulls_last(), *order]
    rows = session.execute(
        query.with_only_columns(
            Case.id,
            Case.title,
            Case.truth_label,
            Image.thumbnail,
            Prediction.label,
            Prediction.probability,
            Prediction.lung_share,
            Prediction.limits,
            Prediction.cam,
            Prediction.cam_height,
            Prediction.cam_width,
            Prediction.lung_mask,
        )
        .join(Image, Image.id == Case.image_id)
        .order_by(*order)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    ids = [r[0] for r in rows]
    tags = limit_tags_for(session, ids)
    verdicts = latest_verdicts(session, ids, model_version)
    return LimitsPage(
        [
            LimitsRow(
                case_id=r[0],
                title=r[1],
                truth_label=r[2],
                thumbnail=r[3],
                predicted=r[4],
                probability=float(r[5]),
                lung_share=float(r[6]),
                limits=r[7],
                cam=unpack_cam(r[8], r[9], r[10]),
                lung_mask=r[11],
                tags=tuple(tags.get(r[0], ())),
                verdicts=verdicts.get(r[0], {}),
            )
            for r in rows
        ],
        total,
        page,
        per_page,
    )


def count_with_limits(session: Session, model_version: str) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.model_version == model_version, Prediction.lung_share.is_not(None))
        ).scalar_one()
    )


# ---------- one case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitsDetail:
    case_id: int
    title: str
    truth_label: str | None
    png: bytes
    predicted: str
    probability: float
    threshold: float
    cam: np.ndarray
    cam_target: str
    limits: dict
    lung_mask: bytes | None
    tags: tuple[str, ...]
    verdicts: dict[str, Verdict]
    history: tuple[tuple[str, str, str, datetime], ...]  # (flag, verdict, reviewer, when), newest first

    @property
    def outcome(self) -> str | None:
        return outcome(self.truth_label, self.predicted)


def limits_detail(session: Session, case_id: int, model_version: str) -> LimitsDetail:
    case_row = get_case(session, case_id)
    pred = session.scalars(
        select(Prediction).where(Prediction.image_id == case_row.image_id, Prediction.model_version == model_version)
    ).first()
    if pred is None or pred.limits is None:
        raise NotFound(
            N_("Case {case_id} has no limits figures for model {version} yet."), case_id=case_id, version=model_version
        )
    history = session.execute(
        select(FlagReview.flag, FlagReview.verdict, FlagReview.reviewer, FlagReview.reviewed_at)
        .where(FlagReview.case_id == case_id, FlagReview.model_version == model_version)
        .order_by(FlagReview.id.desc())
    ).all()
    return LimitsDetail(
        case_id=case_row.id,
        title=case_row.title,
        truth_label=case_row.truth_label,
        png=case_row.image.png,
        predicted=pred.label,
        probability=float(pred.probability),
        threshold=float(pred.threshold),
        cam=unpack_cam(pred.cam, pred.cam_height, pred.cam_width),
        cam_target=pred.cam_target,
        limits=pred.limits,
        lung_mask=pred.lung_mask,
        tags=tuple(limit_tags_for(session, [case_id]).get(case_id, ())),
        verdicts=latest_verdicts(session, [case_id], model_version).get(case_id, {}),
        history=tuple((flag, verdict, reviewer, when) for flag, verdict, reviewer, when in history),
    )


# ---------- reviews ----------------------------------------------------------------------------


def review_flag(
    session: Session, actor: Actor, case_id: int, model_version: str, flag: str, verdict: str, reviewer: str
) -> FlagReview:
    """Record a reviewer's verdict on a flag the case's prediction carries. Earlier verdicts are kept."""
    require(session, actor, "review_flag")
    who = _who(reviewer)
    _check_flags([flag])
    if verdict not in VERDICTS:
        raise LibraryError(
            N_("A verdict is one of {choices}, not {verdict!r}."), choices=", ".join(VERDICTS), verdict=verdict
        )
    get_case(session, case_id)
    carried = session.scalar(
        select(PredictionFlag.flag)
        .join(Prediction, Prediction.id == PredictionFlag.prediction_id)
        .join(Case, Case.image_id == Prediction.image_id)
        .where(Case.id == case_id, Prediction.model_version == model_version, PredictionFlag.flag == flag)
    )
    if carried is None:
        raise LibraryError(
            N_("Case {case_id} does not carry the flag {flag!r} under model {version}; nothing was recorded."),
            case_id=case_id,
            flag=flag,
            version=model_version,
        )
    row = FlagReview(
        case_id=case_id, model_version=model_version, flag=flag, verdict=verdict, reviewer=who, reviewed_at=utcnow()
    )
    session.add(row)
    session.flush()
    return row


def latest_verdicts(session: Session, case_ids: list[int], model_version: str) -> dict[int, dict[str, Verdict]]:
    """{case_id: {flag: latest Verdict}} for these cases under this model version. One query."""
    if not case_ids:
        return {}
    out: dict[int, dict[str, Verdict]] = {}
    for case_id, flag, verdict, reviewer, when in session.execute(_latest_reviews(model_version, case_ids)):
        out.setdefault(case_id, {})[flag] = Verdict(verdict, reviewer, when)
    return out


# ---------- reviewer tags ----------------------------------------------------------------------


def limit_tags_for(session: Session, case_ids: list[int]) -> dict[int, list[str]]:
    if not case_ids:
        return {}
    out: dict[int, list[str]] = {}
    order = {tag: i for i, tag in enumerate(REVIEW_TAGS)}
    for case_id, tag in session.execute(select(LimitTag.case_id, LimitTag.tag).where(LimitTag.case_id.in_(case_ids))):
        out.setdefault(case_id, []).append(tag)
    return {c: sorted(tags, key=lambda t: order.get(t, len(order))) for c, tags in out.items()}


def add_limit_tag(session: Session, actor: Actor, case_id: int, tag: str, added_by: str) -> bool:
    """True if added, False if the case already had it."""
    require(session, actor, "set_limit_tags")
    who = _who(added_by)
    _check_tags([tag])
    get_case(session, case_id)
    if session.get(LimitTag, (case_id, tag)) is not None:
        return False
    session.add(LimitTag(case_id=case_id, tag=tag, added_by=who, added_at=utcnow()))
    session.flush()
    return True


def remove_limit_tag(session: Session, actor: Actor, case_id: int, tag: str) -> bool:
    """True if removed, False if the case did not have it."""
    require(session, actor, "set_limit_tags")
    _check_tags([tag])
    row = session.get(LimitTag, (case_id, tag))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def set_limit_tags(session: Session, actor: Actor, case_id: int, tags, added_by: str) -> list[str]:
    """Make the case's reviewer tags exactly `tags` (kept tags keep who added them and when)."""
    require(session, actor, "set_limit_tags")
    wanted = _check_tags(tags)
    _who(added_by)
    current = set(limit_tags_for(session, [case_id]).get(case_id, []))
    for tag in current - set(wanted):
        remove_limit_tag(session, actor, case_id, tag)
    for tag in wanted:
        if tag not in current:
            add_limit_tag(session, actor, case_id, tag, added_by)
    return [t for t in REVIEW_TAGS if t in wanted]


# ---------- summary figures (plots and `python -m db limits-stats`) -------------------------------


@dataclass(frozen=True)
class ShareOutcome:
    case_id: int
    lung_share: float
    correct: bool


def lung_share_outcomes(session: Session, model_version: str) -> list[ShareOutcome]:
    """In-lung CAM share and whether the prediction was right, for every labelled case with limits. One query."""
    rows = session.execute(
        select(Case.id, Prediction.lung_share, Prediction.label == Case.truth_label)
        .join(Prediction, and_(Prediction.image_id == Case.image_id, Prediction.model_version == model_version))
        .where(Prediction.lung_share.is_not(None), Case.truth_label.is_not(None))
        .order_by(Case.id)
    )
    outcomes = []
    for case_id, share, correct in rows:
        assert share is not None  # the query keeps only predictions with a lung share
        outcomes.append(ShareOutcome(case_id, float(share), bool(correct)))
    return outcomes


def flag_counts(session: Session, model_version: str) -> dict[str, int]:
    """How many of this model version's cases carry each flag (every flag listed, zeros included). One query."""
    counts = dict.fromkeys(LIMIT_FLAGS, 0)
    rows = session.execute(
        select(PredictionFlag.flag, func.count())
        .join(Prediction, Prediction.id == PredictionFlag.prediction_id)
        .join(Case, Case.image_id == Prediction.image_id)
        .where(Prediction.model_version == model_version)
        .group_by(PredictionFlag.flag)
    )
    counts.update({flag: int(n) for flag, n in rows})
    return counts


NO_FLAG = "no flag"


@dataclass(frozen=True)
class FlagErrors:
    cases: int  # labelled cases carrying the flag
    wrong: int

    @property
    def error_rate(self) -> float | None:
        return self.wrong / self.cases if self.cases else None


def error_rate_by_flag(session: Session, model_version: str) -> dict[str, FlagErrors]:
    """Per flag (and NO_FLAG for cases without any): labelled cases and how many the model got wrong. One query."""
    wrong = func.sum(case((Prediction.label != Case.truth_label, 1), else_=0))
    rows = session.execute(
        select(PredictionFlag.flag, func.count(), wrong)
        .select_from(Case)
        .join(Prediction, and_(Prediction.image_id == Case.image_id, Prediction.model_version == model_version))
        .outerjoin(PredictionFlag, PredictionFlag.prediction_id == Prediction.id)
        .where(Prediction.lung_share.is_not(None), Case.truth_label.is_not(None))
        .group_by(PredictionFlag.flag)
    )
    out = {flag: FlagErrors(0, 0) for flag in (*LIMIT_FLAGS, NO_FLAG)}
    for flag, n, bad in rows:
        out[flag or NO_FLAG] = FlagErrors(int(n), int(bad or 0))
    return out


def review_counts(session: Session, model_version: str) -> dict[str, dict[str, int]]:
    """Latest verdicts per flag: {flag: {'confirmed': n, 'rejected': n}}. One query."""
    latest = _latest_reviews(model_version).subquery()
    out = {flag: dict.fromkeys(VERDICTS, 0) for flag in LIMIT_FLAGS}
    for flag, verdict, n in session.execute(
        select(latest.c.flag, latest.c.verdict, func.count()).group_by(latest.c.flag, latest.c.verdict)
    ):
        if flag in out and verdict in out[flag]:
            out[flag][verdict] = int(n)
    return out


def versions_with_limits(session: Session) -> list[tuple[str, int]]:
    """Model versions whose predictions carry limits figures, most such predictions first."""
    n = func.count()
    return [
        (v, int(c))
        for v, c in session.execute(
            select(Prediction.model_version, n)
            .where(Prediction.lung_share.is_not(None))
            .group_by(Prediction.model_version)
            .order_by(n.desc(), Prediction.model_version)
        )
    ]


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def limits_summary(session: Session, model_version: str) -> dict:
    """The figures for the closing note: flag counts, error rate by flag, mean in-lung share right vs wrong."""
    from db.repository import count_without_limits

    shares = lung_share_outcomes(session, model_version)
    right = [s.lung_share for s in shares if s.correct]
    wrong = [s.lung_share for s in shares if not s.correct]
    return {
        "model_version": model_version,
        "predictions_with_limits": count_with_limits(session, model_version),
        "predictions_without_limits": count_without_limits(session, model_version),
        "flag_counts": flag_counts(session, model_version),
        "error_rate_by_flag": {
            flag: {"cases": e.cases, "wrong": e.wrong, "error_rate": e.error_rate}
            for flag, e in error_rate_by_flag(session, model_version).items()
        },
        "lung_share": {
            "correct": {"cases": len(right), "mean": _mean(right)},
            "wrong": {"cases": len(wrong), "mean": _mean(wrong)},
        },
        "reviews": review_counts(session, model_version),
    }
