"""Killed mid-write: a writer process calls a service function in a loop and is SIGKILLed at a random moment,
again and again; after each kill the library is checked. Shared by tests/test_faults_kill.py (a few kills)
and scripts/faults.py (many, with the table for the README).

The writer is a real process: forked from the caller once every library connection is closed, it opens
its own engine, says "ready", then writes; after each commit it appends "ok …" to its log with one
write(2) call (so a confirmed line is never lost with the process), and "try …" before a write whose
outcome the check must accept either way. The kill is SIGKILL: no handler, no rollback in the process,
only what the database itself guarantees. The set import is also run as the real command line
(`python -m db import-set`), killed the same way.

Each write kind has a setup (in the caller), a loop (in the writer) and a check, which returns the
confirmed writes missing from the library and what is visible half-written.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy import select, text

from db import repository as repo
from db import teaching
from db.codec import encode_image
from db.engine import dispose_engines, ensure_library, session_scope
from db.operator import OPERATOR

REPO = Path(__file__).resolve().parent.parent
KINDS = ("case", "reorder", "answer", "report", "set_import", "set_import_cli")


@dataclass
class KillRow:
    kind: str
    backend: str
    kills: int = 0
    confirmed: int = 0
    lost: int = 0
    half_written: int = 0  # kills after which the check saw something half-written
    problems: list[str] = field(default_factory=list)


def pixels_for(n: int, size: int = 64) -> np.ndarray:
    """A picture of its own for every n (no two writes share an image by accident)."""
    rng = np.random.default_rng(n)
    pixels = rng.integers(0, 255, (size, size), dtype=np.uint8)
    pixels[0, :8] = np.frombuffer(int(n).to_bytes(8, "little"), np.uint8)
    return pixels


def add_plain_case(session, n: int, title: str, truth: str | None = None, size: int = 64) -> int:
    image, _ = repo.add_image(session, encode_image(pixels_for(n, size)), "PNG")
    case, _ = repo.add_case(session, image, title, "faults", truth_label=truth)
    return case.id


def common_problems(engine) -> list[str]:
    """Whatever kind was written: the file is sound and no row hangs without what it belongs to."""
    problems = []
    with session_scope(engine) as s:
        if engine.dialect.name == "sqlite":
            verdict = s.execute(text("PRAGMA integrity_check")).scalar()
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
        orphans = {
            "image without a case": "SELECT count(*) FROM images i WHERE NOT EXISTS "
            "(SELECT 1 FROM cases c WHERE c.image_id = i.id)",
            "report without its case": "SELECT count(*) FROM reports r WHERE NOT EXISTS "
            "(SELECT 1 FROM cases c WHERE c.id = r.case_id)",
            "answer without its attempt": "SELECT count(*) FROM quiz_answers a WHERE NOT EXISTS "
            "(SELECT 1 FROM quiz_attempts q WHERE q.id = a.attempt_id)",
            "set item without its case": "SELECT count(*) FROM teaching_set_items t WHERE NOT EXISTS "
            "(SELECT 1 FROM cases c WHERE c.id = t.case_id)",
            "flag without its prediction": "SELECT count(*) FROM prediction_flags f WHERE NOT EXISTS "
            "(SELECT 1 FROM predictions p WHERE p.id = f.prediction_id)",
        }
        for what, sql in orphans.items():
            n = s.execute(text(sql)).scalar()
            if n:
                problems.append(f"{n} {what}")
    return problems


# ---------- the write kinds -----------------------------------------------------------------


class Scenario:
    kind = ""

    def setup(self, engine) -> None: ...

    def loop(self, engine, note, first: int) -> None:
        """Write for ever (until killed); `first` numbers this writer's writes apart from the others'."""
        raise NotImplementedError

    def check(self, engine, confirmed: list[str], tried: list[str]) -> tuple[list[str], list[str]]:
        """(confirmed writes missing, half-written things visible)."""
        raise NotImplementedError


class CaseSave(Scenario):
    """Analyze → Save to library: image, case, prediction (CAM, summary, input check) and the reports
    written before the save, through core.services.library_import.save_analysis."""

    kind = "case"

    def __init__(self, analysis):
        self.analysis = analysis  # one real Analysis; each save gets new pixels (a new image and case)

    def _record(self, sha: str, n: int):
        from core.reports.store import ReportRecord

        body = f"report before saving {n} " + "x" * 4000
        return ReportRecord(
            image_id=sha,
            model_version=self.analysis.model_version,
            prompt_version="faults",
            llm_model="offline",
            language="en",
            source="offline",
            guard_passed=True,
            guard_reasons=(),
            content={"sections": {"findings": body}, "sha": hashlib.sha256(body.encode()).hexdigest()},
        )

    def loop(self, engine, note, first):
        from core.reports import image_id
        from core.services.library_import import save_analysis

        n = first
        while True:
            pixels = pixels_for(n, 224)
            variant = replace(self.analysis, image=replace(self.analysis.image, pixels=pixels))
            sha = image_id(pixels)
            saved = save_analysis(engine, OPERATOR, variant, title=f"fault case {n}", reports=[self._record(sha, n)])
            note(f"ok {saved.case_id} {sha}")
            n += 1

    def check(self, engine, confirmed, tried):
        from db.models import Case, Image, Prediction, Report

        missing, half = [], []
        with session_scope(engine) as s:
            rows = s.execute(
                select(Case.id, Image.sha256)
                .join(Image, Image.id == Case.image_id)
                .where(Case.source == "analyze upload")
            ).all()
            present = {sha: cid for cid, sha in rows}
            for cid, sha in rows:
                preds = s.scalars(select(Prediction).join(Image).where(Image.sha256 == sha)).all()
                reports = s.scalars(select(Report).where(Report.case_id == cid)).all()
                if len(preds) != 1 or preds[0].cam is None or not preds[0].cam_summary:
                    half.append(f"case {cid}: {len(preds)} predictions")
                if len(reports) != 1:
                    half.append(f"case {cid}: {len(reports)} reports (1 was written with it)")
                for r in reports:
                    body = r.content["sections"]["findings"]
                    if hashlib.sha256(body.encode()).hexdigest() != r.content["sha"]:
                        half.append(f"case {cid}: report content damaged")
        for line in confirmed:
            cid, sha = line.split()
            if present.get(sha) != int(cid):
                missing.append(f"case {cid}")
        return missing, half


class Reorder(Scenario):
    """Case Gallery → a teaching set's order: db.teaching.reorder_set (every position rewritten)."""

    kind = "reorder"
    size = 10

    def setup(self, engine):
        with session_scope(engine) as s:
            ids = [add_plain_case(s, 10_000 + i, f"ordered {i}") for i in range(self.size)]
            self.set_id = teaching.create_set(s, OPERATOR, "fault order").id
            teaching.add_to_set(s, OPERATOR, self.set_id, ids)
        self.initial = ids

    def loop(self, engine, note, first):
        rng = random.Random(first)
        while True:
            with session_scope(engine) as s:
                order = teaching.set_case_ids(s, self.set_id)
                rng.shuffle(order)
                note("try " + json.dumps(order))
                teaching.reorder_set(s, OPERATOR, self.set_id, order)
            note("ok " + json.dumps(order))

    def check(self, engine, confirmed, tried):
        from db.models import TeachingSetItem

        with session_scope(engine) as s:
            rows = s.execute(
                select(TeachingSetItem.case_id, TeachingSetItem.position).where(TeachingSetItem.set_id == self.set_id)
            ).all()
        half = []
        positions = sorted(p for _, p in rows)
        if positions != list(range(self.size)) or sorted(c for c, _ in rows) != sorted(self.initial):
            half.append(f"positions {positions}: not a permutation of the set")
        now = [c for c, _ in sorted(rows, key=lambda r: r[1])]
        # What a correct library may show: the last confirmed order, or one written after it whose commit
        # went through unconfirmed (a writer killed between COMMIT and its "ok"; the next one starts from it).
        later = tried
        if confirmed:
            later = tried[max(i for i, t in enumerate(tried) if t == confirmed[-1]) + 1 :]
        allowed = [json.loads(confirmed[-1]) if confirmed else self.initial] + [json.loads(t) for t in later]
        if now not in allowed and not half:
            half.append(f"order {now} is neither the last confirmed nor the one being written")
        missing = [] if now in allowed or not confirmed else ["the last confirmed order"]
        return missing, half


class Answer(Scenario):
    """Quiz → Answer: core.services.quiz.record_answer (a new attempt started when one is done)."""

    kind = "answer"
    length = 6

    def setup(self, engine):
        from db.users import create_user

        with session_scope(engine) as s:
            for i in range(self.length):
                add_plain_case(s, 20_000 + i, f"quiz {i}", truth=("NORMAL", "PNEUMONIA")[i % 2])
            self.user_id = create_user(s, OPERATOR, "fault-student", "a long enough password 1", ["student"]).id

    def loop(self, engine, note, first):
        from core.services import quiz

        rng = random.Random(first)
        while True:
            with session_scope(engine) as s:
                attempt = quiz.unfinished_attempt(s, self.user_id) or quiz.start_attempt(
                    s, self.user_id, "diagnose", self.length, rng=rng
                )
                attempt_id, position = attempt.id, quiz.answered_count(s, attempt.id)
            with session_scope(engine) as s:
                row = quiz.record_answer(
                    s,
                    attempt_id,
                    self.user_id,
                    position,
                    rng.choice(("NORMAL", "PNEUMONIA")),
                    0.8,
                    mark=(0.25, 0.75),
                )
                answer_id = row.id
            note(f"ok {answer_id}")

    def check(self, engine, confirmed, tried):
        from db.models import QuizAnswer, QuizAttempt

        half = []
        with session_scope(engine) as s:
            answers = s.scalars(select(QuizAnswer)).all()
            attempts = {a.id: a for a in s.scalars(select(QuizAttempt))}
            for a in answers:
                if None in (a.truth_label, a.correct, a.confidence, a.mark_x, a.mark_y, a.answered_at):
                    half.append(f"answer {a.id} has empty fields")
                attempt = attempts.get(a.attempt_id)
                if attempt is None or attempt.case_ids[a.position] != a.case_id:
                    half.append(f"answer {a.id} is not its attempt's case")
            for attempt in attempts.values():
                positions = sorted(a.position for a in answers if a.attempt_id == attempt.id)
                if positions != list(range(len(positions))):
                    half.append(f"attempt {attempt.id}: positions {positions}")
                if (attempt.finished_at is not None) != (len(positions) == len(attempt.case_ids)):
                    half.append(f"attempt {attempt.id}: finished {attempt.finished_at} with {len(positions)} answers")
            present = {a.id for a in answers}
        missing = [f"answer {x}" for x in confirmed if int(x) not in present]
        return missing, half


class StoreReport(Scenario):
    """Analyze or a case → a report stored with its case: SqlReportStore.add (a new version each time)."""

    kind = "report"

    def setup(self, engine):
        with session_scope(engine) as s:
            self.case_id = add_plain_case(s, 30_000, "reported")
        from core.reports import image_id

        self.sha = image_id(pixels_for(30_000))

    def loop(self, engine, note, first):
        from core.reports.store import ReportRecord
        from core.services.report_store import SqlReportStore

        store, n = SqlReportStore(engine, OPERATOR), first
        while True:
            body = f"report {n} " + "y" * (2000 + n % 5000)
            record = ReportRecord(
                image_id=self.sha,
                model_version="m1",
                prompt_version="p1",
                llm_model="offline",
                language="en",
                source="offline",
                guard_passed=True,
                guard_reasons=(),
                content={"sections": {"findings": body}, "sha": hashlib.sha256(body.encode()).hexdigest()},
            )
            note(f"ok {store.add(record).version}")
            n += 1

    def check(self, engine, confirmed, tried):
        from db.models import Report

        half = []
        with session_scope(engine) as s:
            rows = s.scalars(select(Report).where(Report.case_id == self.case_id)).all()
        versions = sorted(r.version for r in rows)
        if versions != list(range(1, len(versions) + 1)):
            half.append(f"versions {versions[:5]}…: not 1..n")
        for r in rows:
            body = r.content["sections"]["findings"]
            if hashlib.sha256(body.encode()).hexdigest() != r.content["sha"] or r.status != "ok":
                half.append(f"report {r.id} damaged")
        missing = [f"version {v}" for v in confirmed if int(v) not in set(versions)]
        return missing, half


class SetImport(Scenario):
    """Case Gallery / `python -m db import-set` → core.services.set_exchange.import_set, one zip a transaction."""

    kind = "set_import"
    per_set = 8

    def __init__(self, n_zips: int, workdir: Path, per_set: int = 8, size: int = 64):
        self.n_zips, self.workdir, self.per_set, self.size = n_zips, workdir, per_set, size

    def setup(self, engine):
        from core.services.set_exchange import export_set

        source = ensure_library(f"sqlite:///{self.workdir / 'zips-source.db'}")
        self.zips: dict[str, Path] = {}
        with session_scope(source) as s:
            for z in range(self.n_zips):
                ids = [
                    add_plain_case(
                        s, 40_000 + z * 100 + i, f"set {z} case {i}", ("NORMAL", "PNEUMONIA")[i % 2], self.size
                    )
                    for i in range(self.per_set)
                ]
                for i, cid in enumerate(ids):
                    repo.update_case(s, OPERATOR, cid, None, notes=f"notes {z}-{i}", tags=[f"t{z}", "faults"])
                row = teaching.create_set(s, OPERATOR, f"fault set {z:03d}", "imported while being killed")
                teaching.add_to_set(s, OPERATOR, row.id, ids)
                s.flush()
                path = self.workdir / f"set-{z:03d}.zip"
                path.write_bytes(export_set(s, row.id))
                self.zips[row.name] = path
        dispose_engines()

    def loop(self, engine, note, first):
        from core.services.set_exchange import import_set

        for name, path in self.zips.items():
            with session_scope(engine) as s:
                if teaching.find_set(s, name) is not None:
                    continue
            with session_scope(engine) as s:
                import_set(s, OPERATOR, path.read_bytes())
            note(f"ok {name}")

    def check(self, engine, confirmed, tried):
        from db.models import Case, TeachingSet, TeachingSetItem

        half = []
        with session_scope(engine) as s:
            sets = {
                row.name: row.id for row in s.scalars(select(TeachingSet).where(TeachingSet.name.like("fault set %")))
            }
            for name, set_id in sets.items():
                cases = teaching.set_cases(s, set_id)
                positions = sorted(s.scalars(select(TeachingSetItem.position).where(TeachingSetItem.set_id == set_id)))
                z = int(name.rsplit(" ", 1)[1])
                whole = [c.notes for c in cases] == [f"notes {z}-{i}" for i in range(self.per_set)] and all(
                    sorted(t.tag for t in c.tags) == sorted([f"t{z}", "faults"]) and c.truth_label for c in cases
                )
                if positions != list(range(self.per_set)) or not whole:
                    half.append(f"{name}: {len(cases)} cases, positions {positions}")
            imported = s.scalar(
                select(text("count(*)")).select_from(Case).where(Case.source.like("teaching set: fault set %"))
            )
            if imported != self.per_set * len(sets):
                half.append(f"{imported} imported cases for {len(sets)} whole sets")
        missing = [name for name in confirmed if name not in sets]
        return missing, half


# ---------- the kills ---------------------------------------------------------------------------


def _writer(scenario: Scenario, url: str, log: str, first: int) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(line: str) -> None:
        os.write(fd, (line + "\n").encode())  # one syscall: once it returns the line survives a SIGKILL

    try:
        dispose_engines()  # nothing of the parent's pool is used here
        engine = ensure_library(url)
        with session_scope(engine) as s:
            s.execute(text("SELECT 1"))
        note("ready")
        scenario.loop(engine, note, first)
        note("finished")
    except BaseException as exc:  # reported to the parent, which fails the run
        note(f"error {type(exc).__name__}: {exc}"[:500].replace("\n", " "))
        os._exit(1)
    os._exit(0)


def _read_log(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def run_kills(
    scenario: Scenario, url: str, kills: int, workdir: Path, seed: int = 0, max_delay: float = 0.4
) -> KillRow:
    """`kills` writer processes, each SIGKILLed after a random 0…max_delay s of writing; checked after each."""
    rng = random.Random(seed)
    row = KillRow(scenario.kind, ensure_library(url).dialect.name)
    scenario.setup(ensure_library(url))
    confirmed: list[str] = []
    tried: list[str] = []
    missing_at_end: list[str] = []
    ctx = mp.get_context("fork")
    for k in range(kills):
        log = workdir / f"{scenario.kind}-{k}.log"
        dispose_engines()  # the writer is forked with no open connection to share
        proc = ctx.Process(target=_writer, args=(scenario, url, str(log), 1_000_000 * (k + 1)))
        proc.start()
        deadline = time.monotonic() + 60
        while "ready" not in _read_log(log) and proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, max_delay))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        lines = _read_log(log)
        errors = [line for line in lines if line.startswith("error")]
        if errors:
            row.problems.append(f"writer {k}: {errors[0]}")
        if proc.exitcode == -signal.SIGKILL and "finished" not in lines:
            row.kills += 1
        confirmed += [line[3:] for line in lines if line.startswith("ok ")]
        tried += [line[4:] for line in lines if line.startswith("try ")]
        missing_at_end, half = scenario.check(ensure_library(url), confirmed, tried)
        half += common_problems(ensure_library(url))
        if half:
            row.half_written += 1
            row.problems += [f"after kill {k}: {h}" for h in half[:3]]
        if "finished" in lines:
            break  # nothing left to write
    row.confirmed = len(confirmed)
    row.lost = len(missing_at_end)
    row.problems += [f"lost: {m}" for m in missing_at_end[:5]]
    return row


def run_cli_import_kills(scenario: SetImport, url: str, kills: int, env: dict, seed: int = 0) -> KillRow:
    """`python -m db import-set ZIP` as the README runs it, SIGKILLed at a random moment of its run."""
    rng = random.Random(seed)
    row = KillRow("set_import_cli", ensure_library(url).dialect.name)
    scenario.setup(ensure_library(url))
    names = list(scenario.zips)
    env = {**env, "DATABASE_URL": url, "CXR_SEED_DEMO": "0"}

    def start(name):
        return subprocess.Popen(
            [sys.executable, "-m", "db", "import-set", str(scenario.zips[name])],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    began = time.monotonic()  # the first zip, unkilled: how long one run takes here and now
    out, err = start(names[0]).communicate(timeout=300)
    span = time.monotonic() - began
    confirmed = [names[0]] if out.startswith("set ") else []
    if not confirmed:
        row.problems.append(f"unkilled import failed: {err.strip()[-300:]}")
    missing: list[str] = []
    for k, name in enumerate(names[1 : kills + 1]):
        proc = start(name)
        time.sleep(rng.uniform(0.4, 0.9) * span)  # the imports start late in the run, after Python's own start
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            row.kills += 1
        if out.startswith("set "):
            confirmed.append(name)
        missing, half = scenario.check(ensure_library(url), confirmed, [])
        half += common_problems(ensure_library(url))
        if half:
            row.half_written += 1
            row.problems += [f"after kill {k}: {h}" for h in half[:3]]
    row.confirmed, row.lost = len(confirmed), len(missing)
    row.problems += [f"lost: {m}" for m in missing[:5]]
    return row
