"""Schema, migrations and connection settings on SQLite and PostgreSQL."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from db_support import insert_first_image, library, library_url, pg_server
from sqlalchemy import inspect, text

from core.settings import database_url
from db.codec import encode_image
from db.engine import current_revision, ensure_library, head_revision, make_engine, session_scope, upgrade
from db.models import Base, Case, Report, utcnow

REPO = Path(__file__).resolve().parent.parent


def test_migrated_schema_matches_the_models(library):
    assert current_revision(library) == head_revision() == "0011"
    with library.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []


def test_every_gallery_filter_has_an_index(library):
    names = {
        ix["name"]
        for table in ("cases", "predictions", "case_tags", "teaching_set_items", "reports")
        for ix in inspect(library).get_indexes(table)
    }
    assert {
        "ix_cases_truth_label",
        "ix_cases_created_at",
        "ix_cases_title",
        "ix_cases_difficulty",
        "ix_predictions_model_label",
        "ix_predictions_model_probability",
        "ix_case_tags_tag",
        "ix_teaching_set_items_case",
        "ix_teaching_set_items_set_position",
        "ix_reports_case_created",
    } <= names


def test_upgrade_from_the_first_revision_keeps_every_row(library_url):
    engine = make_engine(library_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "language" not in {c["name"] for c in inspect(engine).get_columns("reports")}
    assert "reference_text" not in {c["name"] for c in inspect(engine).get_columns("cases")}
    with engine.begin() as conn:  # rows written by the first schema, with plain SQL
        img = insert_first_image(conn)
        conn.execute(
            text(
                "INSERT INTO cases (id, image_id, title, source, truth_label, truth_set_by, notes, revision, created_at, updated_at) "
                "VALUES (1, 1, 'old case', 'test', 'NORMAL', 'dr a', 'kept notes', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(text("INSERT INTO case_tags (case_id, tag) VALUES (1, 'lobar')"))
        conn.execute(
            text("INSERT INTO reports (id, case_id, content, created_at) VALUES (1, 1, :c, CURRENT_TIMESTAMP)"),
            {"c": '{"text": "an old report"}'},
        )
        conn.execute(
            text(
                "INSERT INTO teaching_sets (id, name, description, published, created_at, updated_at) "
                "VALUES (1, 'set', '', :f, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"f": False},
        )
        conn.execute(text("INSERT INTO teaching_set_items (set_id, case_id, position) VALUES (1, 1, 0)"))

    ensure_library(library_url)  # what the app does on start
    assert current_revision(engine) == head_revision() == "0011"
    with session_scope(engine) as s:
        report = s.get(Report, 1)
        assert report.content == {"text": "an old report"}
        assert (report.language, report.source, report.status, report.version, report.image_id) == (
            "en",
            "offline",
            "ok",
            1,
            1,
        )
        row = s.execute(
            text(
                "SELECT c.title, c.notes, c.truth_label, t.tag, i.png FROM cases c JOIN case_tags t ON t.case_id = c.id "
                "JOIN images i ON i.id = c.image_id"
            )
        ).one()
        assert row[:4] == ("old case", "kept notes", "NORMAL", "lobar") and bytes(row[4]) == img.png
        assert s.execute(text("SELECT count(*) FROM teaching_set_items")).scalar() == 1
        s.add(
            Report(id=2, case_id=1, content={"x": 1}, language="fr", source="gemini", version=2)
        )  # new columns usable
        case = s.get(Case, 1)
        assert (case.reference_text, case.reference_by, case.reference_at, case.revision) == (None, None, None, 1)
        case.reference_text, case.reference_by, case.reference_at = "Right lower lobe consolidation.", "dr a", utcnow()
    with session_scope(engine) as s:
        assert s.get(Case, 1).reference_text == "Right lower lobe consolidation."


def test_ensure_library_is_idempotent(library_url):
    first = ensure_library(library_url)
    assert ensure_library(library_url) is first
    assert current_revision(first) == head_revision()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    engine = ensure_library(f"sqlite:///{tmp_path / 'lib.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_default_library_is_a_sqlite_file_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CXR_DATA_DIR", str(tmp_path / "d"))
    assert database_url() == f"sqlite:///{tmp_path / 'd' / 'library.db'}"
    monkeypatch.delenv("CXR_DATA_DIR")
    assert database_url() == f"sqlite:///{REPO / 'data' / 'library.db'}"
    assert "data/" in (REPO / ".gitignore").read_text().split()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:secret@h/db")
    assert database_url() == "postgresql+psycopg://u:secret@h/db"


def test_db_package_never_loads_torch():
    # Persistence, and the services that need no model (quizzes, set zips, the CLI's parser), load no torch.
    code = (
        "import sys, db, db.repository, db.limits, db.teaching, db.users, db.class_results, db.codec, db.bench,"
        " db.models, db.engine, core.services.quiz, core.services.set_exchange, core.services.library_cli;"
        "core.services.library_cli.build_parser();"
        "bad = [m for m in ('torch', 'torchvision', 'core.models.classifier') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
