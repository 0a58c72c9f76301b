"""A class at once: N real browser sessions against running servers, on loopback only.

Starts its own servers on a throwaway library (one on SQLite, or two processes on one throwaway
PostgreSQL with `--postgres`), creates the users and imports a few held-out cases, then drives N
headless-Chromium users at the same time, for a bounded time:
- students take a quiz (answer, next) — every submitted answer is checked in the library afterwards;
- reviewers open Model Limits; an instructor opens the Class Dashboard; two users analyse an upload and
  then ask for its faithfulness curve (63 forward passes, the heaviest click in the lab).
It prints p50/p95 page-ready time per step, errors, lost answers, and each server's CPU and resident
memory (the model is loaded once per process: memory with 1 and N sessions tells whether it is copied).

    .venv/bin/python scripts/loadtest.py --users 1 10 30 [--postgres] [--json OUT]
    .venv/bin/python scripts/loadtest.py --users 1 20 --idle     # sessions that open Analyze and wait: memory
    .venv/bin/python scripts/loadtest.py --users 30 --think 0 0  # no think time: a stress test, not a class
    .venv/bin/python scripts/loadtest.py --users 1 10 30 --seconds 120 --ramp 3 --think 10 30 \
        --after-arrival --servers-first                          # a class at work, at the pace of reading cases

Users arrive one per `--ramp` seconds (1 s by default: a class does not log in within one second) and
all work until the same end. Each user pauses a random think time between steps (`--think`, 3–8 s by default, seeded per user), as a
person reads a case before answering; with `--think 0 0` every user clicks again at once. With
`--after-arrival` the timed work starts once the whole class has logged in (opening the lab and logging in
are still timed, as steps of their own): a class's logins and a class at work are two loads, and each
Chromium's first page load (the app's scripts, compiled anew in every fresh browser context) costs this
machine more CPU than the server spends on that user. The single-user
run (N = 1) is the baseline: one user takes each role in turn (analyst, instructor, reviewer, student),
so every step has a single-user figure; each later run prints its p95 per step as a ratio to it.

Two times per step: *page-ready* in the browser, and the *server time* of each page run, which the
servers log (CXR_LOG_RUN_SECONDS; pages/run_timing.py). Here the N browsers render on the same two cores
as the servers (at `--generator-nice`, 10 by default, so that the servers go first); in a class each
browser renders on its own computer, so the server time is what a class would share.

With `--pin` the servers and PostgreSQL run on CPU 0 and this process with its browsers on CPU 1, for the
baseline as for N users: one core stands in for the class's own computers, the other is the server.
With `--servers-first` the browsers run on both cores at SCHED_IDLE instead: they get only the CPU the
servers leave, which Chromium cannot undo (it resets its processes' nice values, not their policy).

Page-ready: from the click (or navigation) until the page's marker text is shown and Streamlit's
"running" indicator is gone. Load generator and servers share this machine's cores; say so with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from e2e_support import CHROMIUM, CHROMIUM_FLAGS, create_user, db_cli, start_app, wait_until_healthy  # noqa: E402

PASSWORD = "load-password-123"
ANALYSTS = 2
SOLO_ROLES = ("analyst", "instructor", "reviewer", "student")


def roles_for(n: int) -> list[str]:
    """The class mix: two analysts and one instructor once there is room, a reviewer per five, students."""
    roles = []
    for i in range(n):
        if i < min(ANALYSTS, n - 1 if n > 1 else 0):
            roles.append("analyst")
        elif i == ANALYSTS and n > ANALYSTS + 1:
            roles.append("instructor")
        elif i % 5 == 4:
            roles.append("reviewer")
        else:
            roles.append("student")
    return roles or ["student"]


# ---------- servers ---------------------------------------------------------------------------


class Sampler(threading.Thread):
    """CPU seconds and resident memory of each server process (its whole process tree), every 0.5 s."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.rss_mb: dict[int, list[float]] = {p: [] for p in pids}
        self.cpu_start = {p: self.cpu_seconds(p) for p in pids}
        self.started = time.monotonic()
        self.stop_event = threading.Event()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
            except OSError:
                pass
        return out

    def cpu_seconds(self, pid: int) -> float:
        total = 0.0
        for p in self._tree(pid):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return total

    def rss(self, pid: int) -> float:
        total = 0
        for p in self._tree(pid):
            try:
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            for p in self.pids:
                self.rss_mb[p].append(self.rss(p))

    def summary(self) -> dict:
        seconds = time.monotonic() - self.started
        return {
            str(p): {
                "cpu_percent_of_one_core": round(
                    100 * (self.cpu_seconds(p) - self.cpu_start[p]) / max(seconds, 1e-9), 1
                ),
                "rss_mb_max": round(max(self.rss_mb[p] or [self.rss(p)]), 1),
                "rss_mb_end": round(self.rss(p), 1),
            }
            for p in self.pids
        }


@dataclass
class Servers:
    urls: list[str]
    procs: list[subprocess.Popen]
    env: dict
    database_url: str
    logs: list[Path]
    pg: object | None = None


def start_servers(root: Path, n_users: int, postgres: bool, cases: int) -> Servers:
    env = {**os.environ, "CXR_SEED_DEMO": "0", "CXR_DATA_DIR": str(root / "data"), "CXR_LOG_RUN_SECONDS": "1"}
    for name in ("DATABASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    pg = None
    if postgres:
        from db_support import PgServer

        pg = PgServer()
        pg.start()
        env["DATABASE_URL"] = pg.create_database()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{root / 'data' / 'library.db'}"
    create_user(env, "load-instructor", "instructor", PASSWORD)
    for i, role in enumerate(SOLO_ROLES if n_users == 1 else roles_for(n_users)):
        if role != "instructor":  # analysts analyse as students do; reviewers need their own role
            account = "reviewer" if role == "reviewer" else "student"
            create_user(env, f"load-user-{i}", account, PASSWORD)
    from core.training import dataset

    samples = dataset.list_labelled(dataset.KERMANY / "test")
    folder = root / "cases"
    for s in samples[:: max(len(samples) // cases, 1)][:cases]:
        (folder / s.path.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / s.path.parent.name / s.path.name).symlink_to(s.path.resolve())
    db_cli(env, "import", str(folder))
    urls, procs, logs = [], [], []
    for k in range(2 if postgres else 1):
        logs.append(root / f"server-{k}.log")
        proc, url = start_app(env, logs[-1])
        procs.append(proc)
        urls.append(url)
    for url, log in zip(urls, logs):
        wait_until_healthy(url, log, seconds=240)
    deadline = time.monotonic() + 240  # the model loads at server start: the class arrives after that
    while not all("cxr-model-loaded" in log.read_text() for log in logs):
        if time.monotonic() > deadline:
            raise RuntimeError("the servers did not load the model within 240 s")
        time.sleep(0.5)
    return Servers(urls, procs, env, database_url, logs, pg)


def stop_servers(servers: Servers) -> None:
    for proc in servers.procs:
        proc.terminate()
    for proc in servers.procs:
        proc.wait(timeout=60)
    if servers.pg is not None:
        servers.pg.stop("immediate")  # type: ignore[attr-defined]
        shutil.rmtree(servers.pg.dir, ignore_errors=True)  # type: ignore[attr-defined]


# ---------- users -----------------------------------------------------------------------------


@dataclass
class Record:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # user → answers the page confirmed

    def add(self, step: str, seconds: float) -> None:
        self.times.setdefault(step, []).append(seconds)


async def ready(page, text: str, timeout: float = 120) -> None:
    """The marker (a heading "# …", a button "[…]" or a text) is visible and Streamlit no longer runs the script."""
    if text.startswith("# "):
        marker = page.get_by_role("heading", name=text[2:])
    elif text.startswith("["):
        marker = page.get_by_role("button", name=text.strip("[]"))
    else:
        marker = page.get_by_text(text)
    await marker.first.wait_for(timeout=timeout * 1000)
    await page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout * 1000)


class Arrival:
    """When each user's work ends.

    By default every user works from their own arrival until one common end, so the last arrivals' logins
    crowd the first users' work. With `after_arrival` the work starts once the whole class has logged in
    (or failed to) and lasts `seconds` from then: open and log in are still timed, as steps of their own,
    but the measured work is the class at work, not the class arriving.
    """

    def __init__(self, n: int, seconds: float, end: float, after_arrival: bool, on_start=None):
        self.n, self.seconds, self.end, self.after_arrival = n, seconds, end, after_arrival
        self.settled = 0
        self.started = asyncio.Event()
        self.on_start = on_start

    def _settle(self) -> None:
        self.settled += 1
        if self.settled == self.n and not self.started.is_set():
            self.end = time.monotonic() + self.seconds
            if self.on_start is not None:
                self.on_start()
            self.started.set()

    async def arrived(self) -> float:
        """Called once a user has logged in: the time their work ends."""
        if not self.after_arrival:
            return self.end
        self._settle()
        await self.started.wait()
        return self.end

    def left(self) -> None:
        """Called when a user failed before logging in: the class does not wait for them."""
        if self.after_arrival:
            self._settle()


async def run_user(
    browser,
    url: str,
    name: str,
    role: str,
    record: Record,
    arrival: Arrival,
    xray: Path,
    idle: bool,
    think: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
):
    context = await browser.new_context(viewport={"width": 1300, "height": 1100})
    page = await context.new_page()
    pauses = random.Random(seed)

    async def step(label: str, action, text: str) -> None:
        t0 = time.perf_counter()
        await action()
        await ready(page, text)
        record.add(label, time.perf_counter() - t0)
        if think[1] > 0:  # a person reads the page before the next click
            await asyncio.sleep(pauses.uniform(*think))

    page.set_default_navigation_timeout(120_000)
    logged_in = False
    try:
        await step("open", lambda: page.goto(url), "User name")
        await page.get_by_label("User name").fill(name)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await step("log in", lambda: page.get_by_role("button", name="Log in").click(), f"Logged in as {name}")
        logged_in = True
        deadline = await arrival.arrived()
        if arrival.after_arrival and think[1] > 0:  # a class at work does not click in unison
            await asyncio.sleep(pauses.uniform(0, think[1]))
        if idle:  # each session holds a page that uses the model, and waits
            await step(
                "idle: open Analyze", page.get_by_role("link", name="Analyze").first.click, "# Analyze a chest X-ray"
            )
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
            return
        link = {"analyst": "Analyze", "instructor": "Class Dashboard", "reviewer": "Model Limits"}.get(role, "Quiz")
        marker = {
            "analyst": "# Analyze a chest X-ray",
            "instructor": "# Class dashboard",
            "reviewer": "# Model Limits",
            "student": "[Start the quiz]",
        }[role]
        await step(f"{role}: open page", lambda: page.get_by_role("link", name=link).first.click(), marker)
        if role == "analyst":
            while time.monotonic() < deadline:
                await step(
                    "analyst: analyse upload",
                    lambda: page.locator("input[type=file]").set_input_files(str(xray)),
                    "Probability of pneumonia",
                )
                await step(  # on request: 63 forward passes, the heaviest click in the lab
                    "analyst: faithfulness",
                    lambda: page.get_by_role("button", name="Measure how faithful the heatmap is").click(),
                    "Faithfulness of the heatmap",
                )
                await page.reload()
                await ready(page, marker)
        elif role == "student":
            answered = 0
            while time.monotonic() < deadline:
                start = page.get_by_role("button", name="Start the quiz")
                if await start.count():
                    await step("student: start quiz", start.click, "[Answer]")
                    continue
                again = page.get_by_role("button", name="Take another quiz")
                if await again.count():
                    await step("student: another quiz", again.click, "[Start the quiz]")
                    continue
                await page.get_by_text("NORMAL", exact=True).first.click()
                await step(
                    "student: answer",
                    lambda: page.get_by_role("button", name="Answer").click(),
                    "the ground truth is",
                )
                answered += 1
                record.answers[name] = answered
                # The reveal streams in: wait for whichever button ends it before choosing.
                onward = page.get_by_role("button", name=re.compile(r"^(Next case|See the result)"))
                await onward.first.wait_for(timeout=120_000)
                last = "See the result" in await onward.first.inner_text()
                await step("student: next", onward.first.click, "[Take another quiz]" if last else "[Answer]")
        else:
            while time.monotonic() < deadline:
                await step(f"{role}: reload", lambda: page.reload(), marker)
    except Exception as exc:  # every failure is counted, with the user and step it happened to
        if not logged_in:
            arrival.left()
        record.errors.append(f"{name} ({role}): {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        shots = os.environ.get("CXR_LOADTEST_SHOTS")
        if shots:
            await page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
    finally:
        await context.close()


@dataclass(frozen=True)
class Workload:
    """What every run of one invocation shares; only the number of users changes between runs."""

    seconds: float = 60.0
    postgres: bool = False
    idle: bool = False
    cases: int = 12
    think: tuple[float, float] = (3.0, 8.0)
    ramp: float = 1.0
    generator_nice: int = 10
    pin: bool = False  # servers (and PostgreSQL) on CPU 0, this process and the browsers on CPU 1
    servers_first: bool = False  # the browsers at SCHED_IDLE on every core: only the CPU the servers leave
    after_arrival: bool = False  # the work window starts once every user has logged in (see Arrival)


async def drive(urls: list[str], n: int, xray: Path, w: Workload, on_start=None) -> Record:
    from playwright.async_api import async_playwright

    record = Record()
    roles = roles_for(n)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        if n == 1 and not w.idle:  # the baseline: one user at a time, in every role, each for `seconds`
            for i, role in enumerate(SOLO_ROLES):
                name = "load-instructor" if role == "instructor" else f"load-user-{i}"
                arrival = Arrival(1, w.seconds, time.monotonic() + w.seconds, w.after_arrival)
                await run_user(browser, urls[0], name, role, record, arrival, xray, w.idle, w.think, seed=i)
            await browser.close()
            return record
        arrival = Arrival(n, w.seconds, time.monotonic() + w.ramp * n + w.seconds, w.after_arrival, on_start)
        names = ["load-instructor" if r == "instructor" else f"load-user-{i}" for i, r in enumerate(roles)]

        async def arrive(i: int) -> None:
            await asyncio.sleep(w.ramp * i)
            await run_user(
                browser, urls[i % len(urls)], names[i], roles[i], record, arrival, xray, w.idle, w.think, seed=i
            )

        await asyncio.gather(*(arrive(i) for i in range(n)))
        await browser.close()
    return record


def stored_answers(database_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from db.engine import ensure_library, session_scope
    from db.models import QuizAnswer, QuizAttempt, User

    with session_scope(ensure_library(database_url)) as s:
        rows = s.execute(
            select(User.name, func.count(QuizAnswer.id))
            .join(QuizAttempt, QuizAttempt.user_id == User.id)
            .join(QuizAnswer, QuizAnswer.attempt_id == QuizAttempt.id)
            .group_by(User.name)
        ).all()
    return {name: count for name, count in rows}


def exception_line(block: str) -> str:
    """The exception a server log's traceback ends in: its last non-frame line (Streamlit draws frames in boxes)."""
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip(" │╭╮╰╯─") for line in block.splitlines()[1:]]
    ends = [line for line in plain if re.match(r"^[A-Za-z_.]+(Error|Exception|Exit|Interrupt)\b", line)]
    return (ends[-1] if ends else next((x for x in reversed(plain) if x), "?"))[:300]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def server_run_seconds(logs: list[Path]) -> dict[str, list[float]]:
    """Page → the server time of each of its runs, from the servers' `cxr-run-seconds PAGE S` lines."""
    runs: dict[str, list[float]] = {}
    for log in logs:
        for match in re.finditer(r"cxr-run-seconds (\S+) ([0-9.]+)", log.read_text()):
            runs.setdefault(match.group(1), []).append(float(match.group(2)))
    return runs


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds busy and in total, summed over every core (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def one_run(n: int, w: Workload) -> dict:
    every_cpu = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="cxr-load-") as tmp:
        root = Path(tmp)
        xray = root / "upload.jpeg"
        from core.training import dataset

        xray.write_bytes(dataset.list_labelled(dataset.KERMANY / "test")[0].path.read_bytes())
        if w.pin:  # the processes started from here on inherit the mask: servers and PostgreSQL on CPU 0
            os.sched_setaffinity(0, {0})
        servers = start_servers(root, n, w.postgres, w.cases)
        if w.pin:  # the browsers stand in for the class's own computers: the other core
            os.sched_setaffinity(0, {1})
        sampler = Sampler([p.pid for p in servers.procs])
        idle_rss = {str(p.pid): round(sampler.rss(p.pid), 1) for p in servers.procs}
        sampler.start()
        busy0, total0 = machine_busy_seconds()
        before = os.nice(0)
        os.nice(w.generator_nice)  # this process and the browsers it starts; the servers are already running
        if w.servers_first:  # Chromium resets its processes' nice values, but not their scheduling policy
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        window: dict = {}

        def work_starts() -> None:  # with --after-arrival: the machine and the servers from here on
            window.update(t=time.monotonic(), busy=machine_busy_seconds())
            window["cpu"] = {p: sampler.cpu_seconds(p) for p in sampler.pids}

        try:
            record = asyncio.run(drive(servers.urls, n, xray, w, work_starts))
        finally:
            sampler.stop_event.set()
            resources = sampler.summary()
            busy1, total1 = machine_busy_seconds()
            if window:
                window_seconds = time.monotonic() - window["t"]
                work_window = {
                    "seconds": round(window_seconds, 1),
                    "machine_cpu_busy_percent": round(
                        100 * (busy1 - window["busy"][0]) / max(total1 - window["busy"][1], 1e-9), 1
                    ),
                    "server_cpu_percent_of_one_core": {
                        str(p): round(100 * (sampler.cpu_seconds(p) - c) / max(window_seconds, 1e-9), 1)
                        for p, c in window["cpu"].items()
                    },
                }
            os.sched_setaffinity(0, every_cpu)
            if w.servers_first:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            lost = {}
            if not w.idle:
                stored = stored_answers(servers.database_url)
                lost = {u: c - stored.get(u, 0) for u, c in record.answers.items() if c > stored.get(u, 0)}
            tracebacks = [
                exception_line(block) for log in servers.logs for block in log.read_text().split("Traceback")[1:]
            ]
            runs = server_run_seconds(servers.logs)
            stop_servers(servers)
    if os.getuid() == 0:
        os.nice(before - os.nice(0))  # back to where it was, for the next run's servers (root only may lower it)
    server_time = {
        page: {"n": len(v), "p50_s": round(statistics.median(v), 3), "p95_s": round(percentile(v, 95), 3)}
        for page, v in sorted(runs.items())
    }
    all_runs = [t for v in runs.values() for t in v]
    steps = {
        step: {
            "n": len(v),
            "p50_s": round(statistics.median(v), 3),
            "p95_s": round(percentile(v, 95), 3),
            "max_s": round(max(v), 3),
        }
        for step, v in sorted(record.times.items())
    }
    every = [t for k, v in record.times.items() if k not in ("open", "log in") for t in v]
    return {
        "users": n,
        "servers": len(servers.urls),
        "backend": "postgresql" if w.postgres else "sqlite",
        "seconds": w.seconds,
        "think_s": list(w.think),
        "ramp_s": w.ramp,
        "generator_nice": w.generator_nice,
        "pinned": w.pin,
        "servers_first": w.servers_first,
        "after_arrival": w.after_arrival,
        "idle_sessions": w.idle,
        "roles": {r: 1 for r in SOLO_ROLES}
        if n == 1
        else {r: roles_for(n).count(r) for r in sorted(set(roles_for(n)))},
        "steps": steps,
        "page_ready_p50_s": round(statistics.median(every), 3) if every else None,
        "page_ready_p95_s": round(percentile(every, 95), 3) if every else None,
        "server_run_time": server_time,
        "server_run_p50_s": round(statistics.median(all_runs), 3) if all_runs else None,
        "server_run_p95_s": round(percentile(all_runs, 95), 3) if all_runs else None,
        "errors": record.errors,
        "answers_confirmed": sum(record.answers.values()),
        "answers_lost": lost,
        "server_tracebacks": len(tracebacks),
        "server_exceptions": sorted(set(tracebacks)),
        "server_rss_mb_before_users": idle_rss,
        "server": resources,
        "machine_cpu_busy_percent": round(100 * (busy1 - busy0) / max(total1 - total0, 1e-9), 1),
        "work_window": work_window if window else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the users work, per run")
    parser.add_argument("--postgres", action="store_true", help="two server processes on one PostgreSQL")
    parser.add_argument(
        "--idle", action="store_true", help="users log in, open Analyze and wait: server memory per session"
    )
    parser.add_argument("--cases", type=int, default=12, help="held-out cases imported for the quizzes")
    parser.add_argument(
        "--think", type=float, nargs=2, default=[3.0, 8.0], metavar=("LO", "HI"), help="pause between steps, s"
    )
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds between two users' arrivals")
    parser.add_argument("--generator-nice", type=int, default=10, help="niceness of the browsers")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers and PostgreSQL on CPU 0, the browsers on CPU 1 (the class's computers), baseline alike",
    )
    parser.add_argument(
        "--servers-first",
        action="store_true",
        help="the browsers at SCHED_IDLE on both cores: they get only the CPU the servers leave, baseline alike",
    )
    parser.add_argument(
        "--after-arrival",
        action="store_true",
        help="the work is timed once the whole class has logged in: arrival and work, each measured on its own",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if max(args.users) > 60:
        parser.error("at most 60 users: this is a bounded test on one machine")
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pin needs CPUs 0 and 1")
    if args.pin and args.servers_first:
        parser.error("--pin and --servers-first are two ways to keep the servers first: choose one")
    workload = Workload(
        args.seconds,
        args.postgres,
        args.idle,
        args.cases,
        tuple(args.think),
        args.ramp,
        args.generator_nice,
        args.pin,
        args.servers_first,
        args.after_arrival,
    )
    results: list[dict] = []
    for n in args.users:
        result = one_run(n, workload)
        solo = next((r for r in results if r["users"] == 1), None)
        if solo is not None:
            result["p95_ratio_to_single_user"] = {
                step: round(v["p95_s"] / solo["steps"][step]["p95_s"], 2)
                for step, v in result["steps"].items()
                if step in solo["steps"] and solo["steps"][step]["p95_s"] > 0
            }
            result["server_p95_ratio_to_single_user"] = {
                page: round(v["p95_s"] / solo["server_run_time"][page]["p95_s"], 2)
                for page, v in result["server_run_time"].items()
                if page in solo["server_run_time"] and solo["server_run_time"][page]["p95_s"] > 0
            }
        results.append(result)
        print(json.dumps(result, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
