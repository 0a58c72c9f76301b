"""The demo library, seeded in the background: one job per server process, one seeder per library.

The server starts the job when it starts (app.py; at the latest the first page of any session does,
through pages/demo_seed_ui.py). The job imports the demo folder (kermany224/test) with the ordinary
folder import in two phases: every case with its prediction, Grad-CAM and input check first (one
forward pass each, in small batches first so that cases appear within seconds), then the limits probe
of each (four or five passes each, batched) through `backfill_limits`. Pages read `job.progress()`;
they never wait for it.

Several server processes may share one library: the one that claims the lease in the database
(db.leases) seeds, the others wait and show the holder's progress, which it publishes with each
heartbeat. A holder that dies stops beating; after db.leases.STALE_AFTER a waiting process takes
over, and since the import skips cases already present, nothing is added twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine

from core.model_service import ModelService
from core.services.library_import import (
    DEMO_META_KEY,
    DEMO_SOURCE,
    ImportSummary,
    backfill_limits,
    demo_folder,
    import_folder,
    list_import_files,
    seeding_wanted,
)
from db import repository
from db.engine import ensure_library, session_scope
from db.leases import claim_lease, read_lease, release_lease, renew_lease
from db.operator import OPERATOR
from db.permissions import Actor, require

log = logging.getLogger(__name__)

LEASE_NAME = "demo_seed"
FIRST_BATCHES = (8, 8)  # the first cases within seconds
BATCH_SIZE = 16  # then batches of 16, so that the bar moves often even on a busy machine
POLL_SECONDS = 3.0  # how often a waiting process looks at the holder's lease
HEARTBEAT_SECONDS = 30.0  # the holder's heartbeat between batches (a batch may take longer on a busy machine)


class State(StrEnum):
    STARTING = "starting"  # opening the library, looking at the lease
    WAITING = "waiting"  # another process holds the lease; the figures are its own
    RUNNING = "running"  # this process is importing
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"


ACTIVE = (State.STARTING, State.WAITING, State.RUNNING)


@dataclass(frozen=True)
class SeedProgress:
    """A snapshot any session may read; `batches` is `done` after each batch this process committed."""

    state: State = State.STARTING
    total: int = 0
    done: int = 0
    added: int = 0
    present: int = 0
    refused: int = 0
    batches: tuple[int, ...] = ()
    started_at: float | None = None  # time.time()
    finished_at: float | None = None
    error: str | None = None
    elsewhere: bool = False  # another process is seeding
    model_trained: bool = True
    # Phase 2: the model-limit figures of the cases phase 1 stored with their predictions only.
    limits_done: int = 0
    limits_total: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def share(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def note(self) -> dict[str, int]:
        """What the holder publishes in its lease for the processes that wait."""
        return {"total": self.total, "done": self.done, "added": self.added, "refused": self.refused}


class _Cancelled(Exception):
    pass


class _LeaseLost(Exception):
    """Another process took the lease over (this one missed its heartbeats)."""


def owner_id(kind: str = "server") -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe_error(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class DemoSeedJob:
    """Seeds one library's demo cases, in a daemon thread (`start`) or in the caller's (`run`)."""

    def __init__(
        self,
        url: str,
        service_factory: Callable[[], ModelService],
        folder: Path | None = None,
        owner: str | None = None,
        first_batches: tuple[int, ...] = FIRST_BATCHES,
        batch_size: int = BATCH_SIZE,
        on_change: Callable[[SeedProgress], None] | None = None,
    ):
        self.url = url
        self.folder = Path(folder or demo_folder())
        self.owner = owner or owner_id()
        self._factory = service_factory
        self._first_batches = first_batches
        self._batch_size = batch_size
        self._on_change = on_change
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._lost = threading.Event()  # the heartbeat found the lease taken over
        self._wake = threading.Event()  # ends the heartbeat thread
        self._thread: threading.Thread | None = None
        self._progress = SeedProgress()
        self._engine: Engine | None = None

    # ---- what sessions call ------------------------------------------------------------------

    def progress(self) -> SeedProgress:
        return self._progress

    def start(self) -> bool:
        """Run in a daemon thread unless running or done already (a failed or stopped job starts again)."""
        with self._lock:
            if (self._thread is not None and self._thread.is_alive()) or self._progress.state == State.DONE:
                return False
            self._cancel.clear()
            self._set(state=State.STARTING, error=None, finished_at=None)
            self._thread = threading.Thread(target=self.run, name="demo-seed", daemon=True)
            self._thread.start()
            return True

    def retry(self, actor: Actor) -> bool:
        """A failed seed started again from a page: an instructor's click (the job itself is the server's)."""
        with session_scope(ensure_library(self.url)) as s:
            require(s, actor, "retry_demo_seed")
        return self.start()

    def start_once(self) -> bool:
        """Start unless this job was ever started: what every page run may call."""
        with self._lock:
            if self._thread is not None:
                return False
        return self.start()

    def wait(self, timeout: float | None = None) -> SeedProgress:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._progress

    def cancel(self) -> None:
        """Ask the job to stop after the current batch (the lease is given up); `start` resumes it."""
        self._cancel.set()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Cancel, and wait for the job to end. Still in a batch after `timeout` (a server shutting down):
        the lease is given up now, so that a restarted server goes on at once instead of waiting for it
        to go stale; the batch, if it still commits, only adds cases (the import skips what is present)."""
        self.cancel()
        thread = self._thread
        self.wait(timeout)
        if thread is not None and thread.is_alive():
            self._give_up(self._engine)

    # ---- the work ----------------------------------------------------------------------------

    def _set(self, **changes) -> None:
        self._progress = replace(self._progress, **changes)
        if self._on_change is not None:
            self._on_change(self._progress)

    def run(self) -> SeedProgress:
        """Seed (or wait for the process that does) until the library's demo cases are all in."""
        self._set(
            state=State.STARTING, batches=(), started_at=time.time(), finished_at=None, error=None, elsewhere=False
        )
        engine = None
        try:
            self._set(total=len(list_import_files(self.folder)[0]))
            engine = self._engine = ensure_library(self.url)
            while True:
                claimed = self._claim(engine)
                if claimed is True:
                    try:
                        self._seed(engine)
                    except _LeaseLost:
                        log.warning("demo seed: another process took the lease over; waiting for it")
                        continue
                    return self._progress
                if claimed is None:  # done, by this process earlier or by another
                    self._set(state=State.DONE, finished_at=time.time(), elsewhere=False)
                    return self._progress
                if self._cancel.wait(POLL_SECONDS):
                    raise _Cancelled
        except _Cancelled:
            self._give_up(engine)
            self._set(state=State.STOPPED, finished_at=time.time())
        except Exception as exc:  # the job must end in a state a page can show, whatever went wrong
            log.exception("demo seed failed")
            self._set(state=State.FAILED, error=describe_error(exc), finished_at=time.time())
        return self._progress

    def _claim(self, engine) -> bool | None:
        """True: this job holds the lease. None: the seed is done. False: another holds it (its figures shown)."""
        with session_scope(engine) as s:
            if repository.get_meta(s, DEMO_META_KEY) == "done":
                return None
            if claim_lease(s, LEASE_NAME, self.owner, note=self._progress.note()):
                return True
            lease = read_lease(s, LEASE_NAME)
        note = lease.note if lease is not None else {}
        figures = {k: int(note[k]) for k in ("total", "done", "added", "refused") if isinstance(note.get(k), int)}
        self._set(state=State.WAITING, elsewhere=True, **figures)
        return False

    def _seed(self, engine) -> None:
        service = self._factory()
        self._set(state=State.RUNNING, elsewhere=False, model_trained=service.info.trained)
        self._lost.clear()
        seeding = threading.Event()
        seeding.set()
        beat = threading.Thread(target=self._beat, args=(engine, seeding), name="demo-seed-heartbeat", daemon=True)
        beat.start()
        try:
            summary = import_folder(
                engine,
                self.folder,
                service,
                batch_size=self._batch_size,
                source=DEMO_SOURCE,
                progress=self._on_batch,
                first_batches=self._first_batches,
                mixed=True,
                # Cases with their prediction and Grad-CAM first (one forward pass each), so the whole
                # library is there in seconds; the limits probe (4-5 passes each) follows in phase 2.
                with_limits=False,
            )
            backfill_limits(engine, OPERATOR, service, progress=self._on_limits, batch_size=self._batch_size)
        finally:
            seeding.clear()
            self._wake.set()
            beat.join()
            self._wake.clear()
        with session_scope(engine) as s:
            repository.set_meta(s, DEMO_META_KEY, "done")
            release_lease(s, LEASE_NAME, self.owner)
        self._figures(summary)
        self._set(state=State.DONE, finished_at=time.time())
        log.info(
            "demo seed: %d added, %d already present, %d refused in %.1f s",
            summary.added,
            summary.already_present,
            len(summary.refused),
            summary.seconds,
        )

    def _figures(self, summary: ImportSummary) -> None:
        self._set(
            total=summary.total,
            done=summary.done,
            added=summary.added,
            present=summary.already_present,
            refused=len(summary.refused),
        )

    def _on_batch(self, summary: ImportSummary) -> None:
        """After each committed batch (and once before the first): figures, heartbeat, a stop asked for."""
        if summary.done:
            self._set(batches=(*self._progress.batches, summary.done))
        self._figures(summary)
        self._on_batch_checks()

    def _on_limits(self, done: int, total: int) -> None:
        """After each batch of phase 2: figures, heartbeat, a stop asked for."""
        self._set(limits_done=done, limits_total=total)
        self._on_batch_checks()

    def _on_batch_checks(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        assert self._engine is not None  # set by run() before the import starts
        if self._lost.is_set() or not self._renew(self._engine):
            raise _LeaseLost

    def _renew(self, engine) -> bool:
        with session_scope(engine) as s:
            return renew_lease(s, LEASE_NAME, self.owner, note=self._progress.note())

    def _beat(self, engine, seeding: threading.Event) -> None:
        """The heartbeat between batches, so that a slow batch does not look like a dead holder."""
        while not self._wake.wait(HEARTBEAT_SECONDS) and seeding.is_set():
            try:
                if not self._renew(engine):
                    self._lost.set()
                    return
            except Exception:  # the import's own writes fail and report it; the beat only keeps trying
                log.warning("demo seed: heartbeat failed", exc_info=True)

    def _give_up(self, engine) -> None:
        if engine is None:
            return
        try:
            with session_scope(engine) as s:
                release_lease(s, LEASE_NAME, self.owner)
        except Exception:  # the database may be what stopped us; the lease then goes stale
            log.warning("demo seed: could not give the lease up", exc_info=True)


# ---- one job per library and server process -------------------------------------------------------

_jobs: dict[str, DemoSeedJob] = {}
_jobs_lock = threading.Lock()


def start_demo_seed(url: str, service_factory: Callable[[], ModelService]) -> DemoSeedJob | None:
    """This process's demo seed for the library at `url`, started the first time it is asked for.

    None when seeding is off (CXR_SEED_DEMO=0) or the demo folder (CXR_DEMO_DIR) is missing.
    """
    if not seeding_wanted():
        return None
    folder = demo_folder()
    if not folder.is_dir():
        return None
    with _jobs_lock:
        job = _jobs.get(url)
        if job is None:
            job = _jobs[url] = DemoSeedJob(url, service_factory, folder)
    job.start_once()
    return job


def stop_all(timeout: float | None = 30.0) -> None:
    """Stop every job of this process and forget them (server shutdown; tests)."""
    with _jobs_lock:
        jobs = list(_jobs.values())
        _jobs.clear()
    for job in jobs:
        job.stop(timeout)
