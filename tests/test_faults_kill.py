"""Killed mid-write (issue 18): a writer process SIGKILLed at random moments while it saves cases, reorders a
teaching set, answers a quiz, stores reports and imports teaching sets; after each kill the library shows
nothing half-written and every confirmed write. More kills and the table: `scripts/faults.py kill`."""

from __future__ import annotations

import os

import pytest
from db_support import library_url, pg_server
from fault_support import Answer, CaseSave, Reorder, SetImport, StoreReport, run_cli_import_kills, run_kills

KILLS = 4


def assert_clean(row) -> None:
    assert row.kills >= KILLS - 1, row  # the writer was really killed, not finished or failed
    assert row.confirmed > 0, row  # and it wrote something first
    assert (row.lost, row.half_written, row.problems) == (0, 0, []), row


@pytest.fixture(scope="module")
def analysis(trained_weights_dir, xray_bytes):
    from core.analysis import analyze_bytes
    from core.model_service import ModelService

    return analyze_bytes(ModelService(trained_weights_dir), xray_bytes)


def test_killed_case_saves_leave_whole_cases_with_their_reports(library_url, analysis, tmp_path):
    assert_clean(run_kills(CaseSave(analysis), library_url, KILLS, tmp_path, seed=1))


SCENARIOS = {
    "reorder": lambda tmp: Reorder(),
    "answer": lambda tmp: Answer(),
    "report": lambda tmp: StoreReport(),
    "set_import": lambda tmp: SetImport(40, tmp),
}


@pytest.mark.parametrize("kind", SCENARIOS)
def test_killed_writes_leave_old_or_new_never_a_mix(library_url, kind, tmp_path):
    assert_clean(run_kills(SCENARIOS[kind](tmp_path), library_url, KILLS, tmp_path, seed=2))


def test_killed_set_import_command_leaves_whole_sets(tmp_path):
    url = f"sqlite:///{tmp_path / 'library.db'}"
    row = run_cli_import_kills(SetImport(4, tmp_path, per_set=40, size=224), url, 3, dict(os.environ), seed=3)
    assert row.kills >= 2 and row.confirmed >= 1, row
    assert (row.lost, row.half_written, row.problems) == (0, 0, []), row
