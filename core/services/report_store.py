"""Reports kept with their library case: core.reports.store.ReportStore on the db tables.

Plain data in, plain data out (`ReportRecord`), so the report code never sees ORM objects.
A report can only live in SQL once its image belongs to a case; `LibraryReportStore`
keeps reports of unsaved uploads in the session and moves them in when the case is saved.
A store writes as the user it was made for (any active, signed-in user: db.permissions.require).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.reports.store import SOURCES, ReportKey, ReportRecord
from db.engine import session_scope
from db.models import Case, Image, Report
from db.permissions import Actor, require
from db.repository import lock_case


class NoCase(LookupError):
    """The image is not in the library yet."""


def _key_filter(key: ReportKey, image_pk: int):
    return (
        Report.image_id == image_pk,
        Report.model_version == key.model_version,
        Report.prompt_version == key.prompt_version,
        Report.language == key.language,
        Report.llm_model == key.llm_model,
    )


def _to_record(row: Report, image_sha: str) -> ReportRecord:
    return ReportRecord(
        image_id=image_sha,
        model_version=row.model_version or "",
        prompt_version=row.prompt_version or "",
        llm_model=row.llm_model or "",
        language=row.language,
        source=row.source,
        guard_passed=bool(row.guard_passed),
        guard_reasons=tuple(row.guard_reasons or ()),
        content=row.content,
        version=row.version,
        created_at=row.created_at,
        case_id=row.case_id,
    )


def _image_and_case(session: Session, image_sha: str) -> tuple[int, int] | None:
    row = session.execute(
        select(Image.id, Case.id)
        .join(Case, Case.image_id == Image.id)
        .where(Image.sha256 == image_sha)
        .order_by(Case.id)
    ).first()
    return (row[0], row[1]) if row else None


def add_report(session: Session, record: ReportRecord) -> ReportRecord:
    """Store `record` as the next version for its key, in the caller's transaction; the case row is
    locked so concurrent writers count in turn."""
    if record.source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {record.source!r}")
    found = _image_and_case(session, record.image_id)
    if found is None:
        raise NoCase(f"image {record.image_id[:12]} has no case in the library")
    image_pk, case_id = found
    lock_case(session, case_id, None)
    last = session.scalar(select(func.max(Report.version)).where(*_key_filter(record.key, image_pk))) or 0
    row = Report(
        case_id=case_id,
        image_id=image_pk,
        content=record.content,
        created_at=record.created_at,
        model_version=record.model_version,
        prompt_version=record.prompt_version,
        llm_model=record.llm_model,
        language=record.language,
        source=record.source,
        status="ok" if record.guard_passed else "guard_failed",
        guard_passed=record.guard_passed,
        guard_reasons=list(record.guard_reasons),
        version=last + 1,
    )
    session.add(row)
    session.flush()
    return _to_record(row, record.image_id)


def add_session_reports(session: Session, records) -> int:
    """Reports written before their image was saved, stored with its case oldest first, in the caller's
    transaction (the save's own: a case is never stored without them). A key the library already holds
    (the image was a case before) is left as it is."""
    ordered = sorted(records, key=lambda r: (r.created_at, r.version))
    already = set()
    for record in ordered:
        found = _image_and_case(session, record.image_id)
        if found is not None and session.scalar(select(Report.id).where(*_key_filter(record.key, found[0])).limit(1)):
            already.add(record.key)
    moved = [add_report(session, r) for r in ordered if r.key not in already]
    return len(moved)


class SqlReportStore:
    def __init__(self, engine: Engine, actor: Actor | None = None):
        """`actor`: who adds reports through this store (None: it only reads; an add is refused)."""
        self.engine, self.actor = engine, actor

    def has_case(self, image_sha: str) -> bool:
        with session_scope(self.engine) as session:
            return _image_and_case(session, image_sha) is not None

    def versions(self, key: ReportKey) -> list[ReportRecord]:
        with session_scope(self.engine) as session:
            found = _image_and_case(session, key.image_id)
            if found is None:
                return []
            rows = session.scalars(select(Report).where(*_key_filter(key, found[0])).order_by(Report.version))
            return [_to_record(r, key.image_id) for r in rows]

    def latest(self, key: ReportKey) -> ReportRecord | None:
        found = self.versions(key)
        return found[-1] if found else None

    def latest_for_case(self, case_id: int, prefer_model_version: str | None = None) -> ReportRecord | None:
        """The case's newest report (whatever its language or writer), preferring one about `prefer_model_version`."""
        with session_scope(self.engine) as session:
            query = (
                select(Report, Image.sha256)
                .outerjoin(Image, Image.id == Report.image_id)
                .where(Report.case_id == case_id)
                .order_by(Report.created_at.desc(), Report.id.desc())
            )
            rows = session.execute(query).all()
            preferred = [r for r in rows if prefer_model_version and r[0].model_version == prefer_model_version]
            candidates = preferred or rows
            if not candidates:
                return None
            report, image_sha = candidates[0]
            return _to_record(report, image_sha or "")

    def add(self, record: ReportRecord) -> ReportRecord:
        """Next version for the key, in a transaction of its own (`add_report`)."""
        with session_scope(self.engine) as session:
            require(session, self.actor, "store_report")
            return add_report(session, record)


class LibraryReportStore:
    """SQL for images that have a case, the session's memory for the rest (until saved)."""

    def __init__(self, sql: SqlReportStore, memory):
        self.sql, self.memory = sql, memory

    def versions(self, key: ReportKey) -> list[ReportRecord]:
        return self.sql.versions(key) or self.memory.versions(key)

    def latest(self, key: ReportKey) -> ReportRecord | None:
        found = self.versions(key)
        return found[-1] if found else None

    def add(self, record: ReportRecord) -> ReportRecord:
        if self.sql.has_case(record.image_id):
            return self.sql.add(record)
        return self.memory.add(record)

    def session_reports(self, image_sha: str) -> list[ReportRecord]:
        """This image's reports kept in the session (not in the library yet)."""
        return [r for r in self.memory.all() if r.image_id == image_sha]

    def move_to_library(self, image_sha: str) -> int:
        """Store this image's session reports with its case, oldest first, in one transaction."""
        with session_scope(self.sql.engine) as session:
            require(session, self.sql.actor, "store_report")
            return add_session_reports(session, self.session_reports(image_sha))
