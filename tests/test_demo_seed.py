"""The background demo seed: the lease in the database (one seeder per library, stale leases taken over)
and the job (background thread, small batches first, every figure stored, progress readable, retry)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from db_support import library, library_url, pg_server, small_folder
from sqlalchemy import func, select

from core.model_service import ModelService
from core.services import demo_seed
from core.services.demo_seed import LEASE_NAME, DemoSeedJob, State
from core.services.library_import import DEMO_META_KEY, DEMO_SOURCE, batch_bounds
from db import repository as repo
from db.engine import ensure_library, forget_engine, session_scope
from db.leases import STALE_AFTER, claim_lease, read_lease, release_lease, renew_lease
from db.models import Case, Prediction, utcnow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_jobs_left():
    yield
    demo_seed.stop_all(timeout=60)


def claim(engine, owner, **kw) -> bool:
    with session_scope(engine) as s:
        return claim_lease(s, LEASE_NAME, owner, **kw)


# ---------- the lease ----------------------------------------------------------------------------


def test_of_many_simultaneous_claimants_exactly_one_wins(library):
    n = 6
    barrier = threading.Barrier(n)
    results: dict[str, bool] = {}

    def claimant(owner: str) -> None:
        barrier.wait()
        results[owner] = claim(library, owner)

    threads = [threading.Thread(target=claimant, args=(f"server-{i}",)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [owner for owner, won in results.items() if won]
    assert len(results) == n and len(winners) == 1, results
    with session_scope(library) as s:
        assert read_lease(s, LEASE_NAME).owner == winners[0]


@pytest.mark.parametrize("existing", [False, True], ids=["new lease", "stale lease"])
def test_a_claim_racing_an_uncommitted_claim_loses(library, existing):
    """B claims while A's claim is written but not committed: B waits for A's commit, then loses."""
    if existing:  # a dead holder's lease: both A and B may take it over, only one does
        assert claim(library, "dead", now=utcnow() - STALE_AFTER - timedelta(seconds=1))
    a_claimed, a_commit = threading.Event(), threading.Event()
    outcome: dict[str, bool] = {}

    def a() -> None:
        with session_scope(library) as s:
            outcome["a"] = claim_lease(s, LEASE_NAME, "a")
            a_claimed.set()
            a_commit.wait(30)

    def b() -> None:
        outcome["b"] = claim(library, "b")

    ta = threading.Thread(target=a)
    ta.start()
    assert a_claimed.wait(30)
    tb = threading.Thread(target=b)
    tb.start()
    tb.join(1.0)
    assert tb.is_alive(), "B must wait for A's transaction (a row lock on PostgreSQL, the write lock on SQLite)"
    a_commit.set()
    ta.join(30)
    tb.join(30)
    assert outcome == {"a": True, "b": False}
    with session_scope(library) as s:
        assert read_lease(s, LEASE_NAME).owner == "a"


def test_a_stale_lease_is_taken_over_and_its_old_holder_learns_it(library):
    t0 = utcnow()
    assert claim(library, "first", now=t0, note={"done": 8, "total": 313})
    assert claim(library, "first", now=t0 + timedelta(seconds=5))  # its own lease again: yes
    assert not claim(library, "second", now=t0 + STALE_AFTER - timedelta(seconds=10))
    with session_scope(library) as s:
        assert renew_lease(s, LEASE_NAME, "first", note={"done": 16, "total": 313}, now=t0 + timedelta(seconds=30))
        lease = read_lease(s, LEASE_NAME)
    assert lease.note == {"done": 16, "total": 313} and not lease.stale(t0 + timedelta(seconds=60))
    # The holder stops beating (killed): after STALE_AFTER the next claimant takes over.
    later = t0 + timedelta(seconds=30) + STALE_AFTER
    assert claim(library, "second", now=later)
    with session_scope(library) as s:
        assert not renew_lease(s, LEASE_NAME, "first")  # the old holder finds out at its next heartbeat
        assert not release_lease(s, LEASE_NAME, "first")  # and cannot give up what is not its
        assert read_lease(s, LEASE_NAME).owner == "second"
        assert release_lease(s, LEASE_NAME, "second")
        assert read_lease(s, LEASE_NAME) is None
    assert claim(library, "third")  # a released lease is free at once


def test_a_lease_that_cannot_be_read_can_be_taken_over(library):
    with session_scope(library) as s:
        repo.set_meta(s, "lease:" + LEASE_NAME, "not json")
    assert claim(library, "new")


def test_batches_are_small_first_then_the_usual_size():
    assert list(batch_bounds(90, 32, (8, 8, 16))) == [(0, 8), (8, 16), (16, 32), (32, 64), (64, 90)]
    assert list(batch_bounds(5, 32, (8, 8))) == [(0, 5)]
    assert list(batch_bounds(0, 32, (8,))) == []


# ---------- the job ------------------------------------------------------------------------------


@pytest.fixture
def demo_dir(kermany_test_dir, tmp_path) -> Path:
    return small_folder(kermany_test_dir, tmp_path / "demo", per_class=5, loose=0)  # 10 images


def stored(engine) -> tuple[int, int, int]:
    """Demo cases, predictions, predictions with the limits probe."""
    with session_scope(engine) as s:
        cases = s.scalar(select(func.count()).select_from(Case).where(Case.source == DEMO_SOURCE))
        predictions = s.scalar(select(func.count()).select_from(Prediction))
        limits = s.scalar(select(func.count()).select_from(Prediction).where(Prediction.limits.is_not(None)))
    return cases, predictions, limits


def test_the_job_seeds_in_the_background_in_small_batches(library_url, kermany_test_dir, tmp_path, limits_weights_dir):
    demo_dir = small_folder(kermany_test_dir, tmp_path / "demo", per_class=3, loose=0)
    service = ModelService(limits_weights_dir)  # a trained-format classifier and a lung U-Net: every figure
    job = DemoSeedJob(library_url, lambda: service, demo_dir, first_batches=(2, 2))
    started = time.perf_counter()
    assert job.start()
    returned = time.perf_counter() - started
    assert returned < 0.5 and job.progress().active  # start() returns at once; the work is in the thread
    assert not job.start() and not job.start_once()  # already running
    seen = set()
    while job.progress().active and time.perf_counter() - started < 300:
        seen.add(job.progress().state)
        time.sleep(0.02)
    p = job.progress()
    assert p.state == State.DONE, p.error
    assert State.RUNNING in seen
    assert p.batches == (2, 4, 6)  # the bar moves after each batch: 2, 2 then the rest (of 6)
    assert (p.total, p.done, p.added, p.present, p.refused) == (6, 6, 6, 0, 0)
    assert (p.limits_done, p.limits_total) == (6, 6)  # phase 2: the probes of the cases phase 1 stored
    assert p.started_at is not None and p.finished_at is not None and p.finished_at >= p.started_at
    engine = ensure_library(library_url)
    assert stored(engine) == (6, 6, 6)  # every case with its prediction and its limits probe
    with session_scope(engine) as s:
        assert repo.get_meta(s, DEMO_META_KEY) == "done"
        assert read_lease(s, LEASE_NAME) is None  # given up when done
        first_batch = list(s.scalars(select(Case.truth_label).order_by(Case.id).limit(2)))
    assert sorted(first_batch) == ["NORMAL", "PNEUMONIA"]  # both classes from the first batch
    assert not job.start()  # done: a second start is a no-op
    # A restarted server (a new job) finds the library seeded and imports nothing.
    again = DemoSeedJob(library_url, lambda: pytest.fail("the model is not needed"), demo_dir)
    assert again.run().state == State.DONE and again.progress().batches == ()
    assert stored(engine) == (6, 6, 6)


def test_one_job_per_process_and_none_when_opted_out(library_url, demo_dir, monkeypatch, use_placeholder):
    monkeypatch.setenv("CXR_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    assert demo_seed.start_demo_seed(library_url, ModelService) is None
    monkeypatch.setenv("CXR_SEED_DEMO", "1")
    monkeypatch.setenv("CXR_DEMO_DIR", str(demo_dir / "missing"))
    assert demo_seed.start_demo_seed(library_url, ModelService) is None
    monkeypatch.setenv("CXR_DEMO_DIR", str(demo_dir))
    job = demo_seed.start_demo_seed(library_url, ModelService)
    assert job is not None and demo_seed.start_demo_seed(library_url, ModelService) is job  # every session: this one
    assert job.wait(300).state == State.DONE
    assert stored(ensure_library(library_url))[0] == 10


def test_two_servers_on_one_library_seed_it_once(library_url, demo_dir, use_placeholder):
    """Two jobs with their own owners (as two server processes have): one seeds, the other shows its figures."""
    loads = []

    def factory():
        loads.append(1)
        return ModelService()

    seen: dict[str, list] = {"a": [], "b": []}
    a, b = (
        DemoSeedJob(library_url, factory, demo_dir, first_batches=(2, 2, 2), on_change=seen[name].append)
        for name in ("a", "b")
    )
    a.start()
    b.start()
    pa, pb = a.wait(300), b.wait(300)
    assert pa.state == pb.state == State.DONE, (pa.error, pb.error)
    assert a.owner != b.owner and len(loads) == 1  # only the seeder loaded a model
    (seeder, seeder_seen), (other, other_seen) = sorted(
        [(pa, seen["a"]), (pb, seen["b"])], key=lambda pair: not pair[0].batches
    )
    assert seeder.batches and not other.batches and seeder.added == 10
    # The other waited, showing the seeder's figures from its lease, and never claimed to seed.
    assert any(p.elsewhere and p.state == State.WAITING for p in other_seen)
    assert not any(p.state == State.RUNNING for p in other_seen)
    assert not any(p.elsewhere for p in seeder_seen)
    assert stored(ensure_library(library_url))[0] == 10


def test_a_failed_job_says_why_and_can_be_retried(pg_server, demo_dir, use_placeholder):
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    pg_server.drop_database(url)  # the library's database is gone
    try:
        job = DemoSeedJob(url, ModelService, demo_dir)
        job.start()
        p = job.wait(120)
        assert p.state == State.FAILED and not p.active
        assert name in p.error and "does not exist" in p.error
        forget_engine(url)
        pg_server.admin(f'CREATE DATABASE "{name}"')
        assert job.start()  # a failed job starts again
        p = job.wait(300)
        assert p.state == State.DONE and p.error is None and p.added == 10
    finally:
        pg_server.drop_database(url)


def test_a_stopped_job_gives_the_lease_up_and_a_restart_finishes_without_duplicates(
    library_url, demo_dir, use_placeholder
):
    stopping = threading.Event()

    def on_change(p):
        if p.batches and not stopping.is_set():
            stopping.set()
            job.cancel()

    job = DemoSeedJob(library_url, ModelService, demo_dir, first_batches=(2,), batch_size=2, on_change=on_change)
    job.start()
    assert stopping.wait(300)
    p = job.wait(300)
    assert p.state == State.STOPPED and p.done == 2
    engine = ensure_library(library_url)
    with session_scope(engine) as s:
        assert read_lease(s, LEASE_NAME) is None and repo.get_meta(s, DEMO_META_KEY) != "done"
    assert stored(engine)[0] == 2
    assert job.start()
    p = job.wait(300)
    assert p.state == State.DONE and (p.added, p.present) == (8, 2)
    assert stored(engine)[0] == 10


class GatedService(ModelService):
    """The real model, whose forward pass waits for the test to open the gate: a batch as slow as the test wants."""

    def __init__(self):
        super().__init__()
        self.gate, self.entered = threading.Event(), threading.Event()

    def forward(self, batch):
        self.entered.set()
        assert self.gate.wait(120), "the test never opened the gate"
        return super().forward(batch)


def test_a_slow_batch_keeps_beating_and_a_shutdown_gives_the_lease_up_at_once(
    library_url, demo_dir, use_trained_weights, monkeypatch
):
    """A batch that takes long: the heartbeat goes on meanwhile, and stop() does not wait for the batch."""
    monkeypatch.setattr(demo_seed, "HEARTBEAT_SECONDS", 0.1)
    service = GatedService()
    job = DemoSeedJob(library_url, lambda: service, demo_dir, first_batches=(10,))
    job.start()
    try:
        assert service.entered.wait(120)  # in the middle of the first batch, and it stays there
        engine = ensure_library(library_url)
        beats = set()
        deadline = time.monotonic() + 60
        while len(beats) < 3 and time.monotonic() < deadline:
            with session_scope(engine) as s:
                lease = read_lease(s, LEASE_NAME)
            if lease is not None:
                beats.add(lease.heartbeat)
            time.sleep(0.05)
        assert len(beats) >= 3 and not job.progress().batches, "no heartbeat during the batch"
        job.stop(timeout=0.1)  # as a server shutting down does: the batch is still running
        assert job._thread is not None and job._thread.is_alive()
        with session_scope(engine) as s:
            assert read_lease(s, LEASE_NAME) is None  # a restarted server may take over at once
        assert claim(engine, "restarted server")
    finally:
        service.gate.set()
    p = job.wait(300)
    assert p.state == State.STOPPED and p.batches == (10,)  # the batch was committed, then the job stopped
    with session_scope(engine) as s:
        assert repo.get_meta(s, DEMO_META_KEY) != "done" and read_lease(s, LEASE_NAME).owner == "restarted server"


def test_two_cli_processes_on_one_postgresql_library_seed_it_once(pg_server, demo_dir, tmp_path, use_placeholder):
    """Real processes: `python -m db seed-demo` takes the servers' lease; the second waits for the first."""
    url = pg_server.create_database()
    try:
        ensure_library(url)
        env = dict(
            os.environ,
            DATABASE_URL=url,
            CXR_DEMO_DIR=str(demo_dir),
            CXR_DATA_DIR=str(tmp_path / "data"),
            CXR_WEIGHTS_DIR=os.environ["CXR_WEIGHTS_DIR"],
        )
        env.pop("CXR_SEED_DEMO", None)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "db", "seed-demo"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        finals = sorted(out.strip().splitlines()[-1] for out, _err in outs)
        assert finals[0].startswith("demo seed: added 10 ·"), outs
        assert finals[1] in (
            "demo seed: done by another process",
            "the demo cases are already seeded (use --force to check again)",
        ), outs
        assert stored(ensure_library(url))[0] == 10
    finally:
        pg_server.drop_database(url)


# ---------- the real server ----------------------------------------------------------------------


def test_two_servers_on_one_postgresql_library_start_seeding_at_once_and_seed_it_once(
    pg_server, demo_dir, trained_weights_dir, tmp_path
):
    """`streamlit run app.py` twice on one library, and no visitor: the seed starts with the servers, one seeds."""
    url = pg_server.create_database()
    env = {k: v for k, v in os.environ.items() if k != "CXR_SEED_DEMO"}
    env |= {
        "DATABASE_URL": url,
        "CXR_DEMO_DIR": str(demo_dir),
        "CXR_WEIGHTS_DIR": str(trained_weights_dir),
        "CXR_DATA_DIR": str(tmp_path / "data"),
    }
    from e2e_support import start_app

    servers = [start_app(env, tmp_path / f"server{i}.log")[0] for i in range(2)]
    owners: set[str] = set()
    try:
        engine = ensure_library(url)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with session_scope(engine) as s:
                lease = read_lease(s, LEASE_NAME)
                done = repo.get_meta(s, DEMO_META_KEY) == "done"
            if lease is not None:
                owners.add(lease.owner)
            if done:
                break
            assert all(p.poll() is None for p in servers), [(tmp_path / f"server{i}.log").read_text() for i in (0, 1)]
            time.sleep(0.05)
        assert done, "the servers did not seed the library"
        cases, predictions, _limits = stored(engine)
        assert (cases, predictions) == (10, 10)
        # One seeder, and it is one of the two servers (the owner id names its process).
        assert len(owners) == 1, owners
        [owner] = owners
        assert owner.startswith("server:") and int(owner.split(":")[2]) in {p.pid for p in servers}
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            p.wait(timeout=60)
        pg_server.drop_database(url)
    logs = "".join((tmp_path / f"server{i}.log").read_text() for i in (0, 1))
    assert "Traceback" not in logs, logs
