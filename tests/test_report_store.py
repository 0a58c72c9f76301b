"""Reports stored with their case in SQL (SQLite and PostgreSQL), and the session store's hand-over."""

import dataclasses

import numpy as np
import pytest
from db_support import library, library_url, pg_server

from core.reports import InMemoryReportStore, ReportRecord, image_id
from core.services.report_store import LibraryReportStore, NoCase, SqlReportStore
from db import repository as repo
from db.codec import encode_image
from db.engine import session_scope
from db.operator import OPERATOR


def pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (80, 90), dtype=np.uint8)


def record(sha: str, language: str = "en", summary: str = "first") -> ReportRecord:
    return ReportRecord(
        image_id=sha,
        model_version="m1",
        prompt_version="p1",
        llm_model="offline-template",
        language=language,
        source="offline",
        guard_passed=False,
        guard_reasons=("probability differs",),
        content={"sections": {"summary": summary}, "source_reason": "no key"},
    )


def save_case(engine, gray: np.ndarray) -> int:
    with session_scope(engine) as s:
        image, _ = repo.add_image(s, encode_image(gray), "PNG")
        case, _ = repo.add_case(s, image, "a case", "test")
        return case.id


def test_report_key_uses_the_library_image_hash():
    gray = pixels(0)
    assert image_id(gray) == encode_image(gray).sha256


def test_sql_store_versions_per_key_and_keeps_every_field(library):
    gray = pixels(1)
    case_id = save_case(library, gray)
    store = SqlReportStore(library, OPERATOR)
    sha = image_id(gray)
    first = store.add(record(sha))
    second = store.add(record(sha, summary="second"))
    korean = store.add(record(sha, language="ko"))
    assert (first.version, second.version, korean.version) == (1, 2, 1)
    assert [r.content["sections"]["summary"] for r in store.versions(first.key)] == ["first", "second"]
    latest = store.latest(first.key)
    assert latest.case_id == case_id and latest.guard_reasons == ("probability differs",) and not latest.guard_passed
    expected = record(sha, summary="second")
    assert dataclasses.replace(latest, created_at=expected.created_at, version=0, case_id=None) == expected
    with session_scope(library) as s:
        assert repo.stats(s)["reports"] == 3


def test_sql_store_refuses_an_image_without_a_case(library):
    with pytest.raises(NoCase):
        SqlReportStore(library, OPERATOR).add(record(image_id(pixels(2))))


def test_session_reports_move_into_the_library_when_the_case_is_saved(library):
    gray = pixels(3)
    sha = image_id(gray)
    store = LibraryReportStore(SqlReportStore(library, OPERATOR), InMemoryReportStore())
    store.add(record(sha))
    store.add(record(sha, summary="regenerated"))
    assert store.sql.versions(record(sha).key) == []  # not saved yet: session only
    save_case(library, gray)
    assert store.move_to_library(sha) == 2
    assert [r.content["sections"]["summary"] for r in store.versions(record(sha).key)] == ["first", "regenerated"]
    assert store.move_to_library(sha) == 0  # a second save moves nothing twice
    assert store.add(record(sha, summary="after save")).version == 3  # new versions now go to SQL
