"""`python -m db …`: the case library from the command line.

Bad input or an unreachable database ends with exit status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import settings
from db.operator import OPERATOR  # the command line is the machine operator: no user, no role check

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _library():
    from db.engine import ensure_library

    return ensure_library(settings.database_url())


def _load_model():
    from core.model_service import ModelService  # torch: only for the commands that run the model

    return ModelService()


def _cmd_import(args) -> int:
    from tqdm import tqdm

    from core.services.library_import import import_folder

    folder: Path = args.folder
    if not folder.is_dir():
        return _fail(f"{folder} is not a folder")
    engine = _library()
    service = _load_model()
    if not service.info.trained:
        print(
            "note: no trained model is installed; importing cases and images without predictions "
            "(run `python -m db predict` once a model is installed).",
            file=sys.stderr,
        )
    bar = tqdm(total=0, unit="img", desc="importing", disable=args.quiet)

    def progress(summary):
        bar.total = summary.total
        bar.n = summary.done
        bar.set_postfix(added=summary.added, present=summary.already_present, refused=len(summary.refused))
        bar.refresh()

    summary = import_folder(engine, folder, service, batch_size=args.batch_size, progress=progress)
    bar.close()
    for name in summary.ignored_folders:
        print(f"ignored folder {name}/ (only NORMAL/ and PNEUMONIA/ give ground truth)", file=sys.stderr)
    for path, reason in summary.refused:
        print(f"refused {path}: {reason}")
    print(
        f"added {summary.added} · already present {summary.already_present} · refused {len(summary.refused)} "
        f"· predictions added {summary.predictions_added} "
        f"({summary.images_per_second:.1f} images/s over {summary.seconds:.1f} s)"
    )
    if not summary.model_trained:
        print("no predictions stored: no trained model is installed")
    return 0


def _cmd_predict(args) -> int:
    from tqdm import tqdm

    from core.services.library_import import predict_missing

    engine = _library()
    service = _load_model()
    if not service.info.trained:
        return _fail(
            "no trained model is installed (weights/classifier.safetensors is missing); nothing to predict with"
        )
    bar = tqdm(total=0, unit="img", desc="predicting", disable=args.quiet)

    def progress(done, total):
        bar.total, bar.n = total, done
        bar.refresh()

    added = predict_missing(engine, OPERATOR, service, batch_size=args.batch_size, progress=progress)
    bar.close()
    print(f"predictions added for model {service.version}: {added}")
    return 0


def _cmd_limits(args) -> int:
    from tqdm import tqdm

    from core.services.library_import import backfill_limits

    engine = _library()
    service = _load_model()
    if not service.info.trained:
        return _fail("no trained model is installed (weights/classifier.safetensors is missing)")
    if service.segmenter is None:
        return _fail("no lung segmenter is installed (weights/lungs.safetensors is missing)")
    bar = tqdm(total=0, unit="case", desc="model limits", disable=args.quiet)

    def progress(done, total):
        bar.total, bar.n = total, done
        bar.refresh()

    added = backfill_limits(engine, OPERATOR, service, progress=progress)
    bar.close()
    print(f"model-limits figures added for model {service.version}: {added}")
    return 0


def _cmd_stats(args) -> int:
    from db.engine import describe_url, session_scope
    from db.repository import stats

    engine = _library()
    with session_scope(engine) as session:
        counts = stats(session)
    if args.json:
        print(json.dumps(counts))
    else:
        print(f"library: {describe_url(str(engine.url))}")
        for key, value in counts.items():
            print(f"{key}: {value}")
    return 0


def _cmd_seed_demo(args) -> int:
    import time

    from core.services.demo_seed import DemoSeedJob, State, owner_id
    from core.services.library_import import DEMO_META_KEY, demo_folder, seeding_wanted
    from db.engine import session_scope
    from db.repository import set_meta

    if not seeding_wanted():
        return _fail("CXR_SEED_DEMO is off; unset it to seed the demo cases")
    if not demo_folder().is_dir():
        return _fail(f"the demo folder {demo_folder()} is missing")
    engine = _library()
    if args.force:
        with session_scope(engine) as session:
            set_meta(session, DEMO_META_KEY, "pending")
    started = time.perf_counter()
    shown: list[tuple] = []

    def report(p) -> None:
        line = (p.state, p.elsewhere, p.done, p.total)
        if args.quiet or p.state not in (State.WAITING, State.RUNNING) or (shown and shown[-1] == line):
            return
        shown.append(line)
        who = "another process is seeding" if p.elsewhere else "seeding"
        print(f"{time.perf_counter() - started:7.1f} s  {who}: {p.done}/{p.total}", flush=True)

    # The same lease as the servers': while a server seeds this library, this waits for it.
    job = DemoSeedJob(settings.database_url(), _load_model, owner=owner_id("cli"), on_change=report)
    p = job.run()
    if p.state == State.FAILED:
        return _fail(f"the demo seed failed: {p.error}")
    if not p.batches and not any(line[1] for line in shown):
        print("the demo cases are already seeded (use --force to check again)")
    elif p.batches:
        print(
            f"demo seed: added {p.added} · already present {p.present} · refused {p.refused} "
            f"in {time.perf_counter() - started:.1f} s"
        )
    else:
        print("demo seed: done by another process")
    return 0


def _cmd_backup(args) -> int:
    from db.backup import BackupError, backup

    try:
        result = backup(settings.database_url(), args.out)
    except BackupError as exc:
        return _fail(str(exc))
    print(f"backup of the {result.backend} library: {result.path} ({result.bytes / 2**20:.1f} MB)")
    return 0


def _cmd_restore(args) -> int:
    from db.backup import BackupError, restore
    from db.engine import describe_url, forget_engine

    url = settings.database_url()
    if not args.yes:
        return _fail(f"this replaces the whole library at {describe_url(url)}: add --yes to go on")
    try:
        backend = restore(url, args.file)
    except BackupError as exc:
        return _fail(str(exc))
    forget_engine(url)
    print(f"restored the {backend} library from {args.file}")
    return 0


def _cmd_bench_import(args) -> int:
    from core.services.import_bench import run_import_bench

    report = run_import_bench(n_cases=args.cases, batch_size=args.batch_size, url=args.url)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


def _cmd_bench_gallery(args) -> int:
    from db.bench import run_bench

    report = run_bench(n_cases=args.cases, repeats=args.repeats, url=args.url)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['cases']} cases on {report['backend']} (seeded in {report['seed_seconds']} s), "
            f"{report['per_page']} per page; median / max of {args.repeats} runs:"
        )
        for name, ms in report["query_ms_median"].items():
            print(f"  {name}: {ms} ms / {report['query_ms_max'][name]} ms")
    return 0


def _cmd_export_set(args) -> int:
    from core.services.set_exchange import export_set
    from db.engine import session_scope
    from db.teaching import find_set

    engine = _library()
    with session_scope(engine) as session:
        found = find_set(session, args.name)
        if found is None:
            return _fail(f"no teaching set called {args.name!r}")
        data = export_set(session, found.id)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) / 2**20:.1f} MB)")
    return 0


def _cmd_import_set(args) -> int:
    from core.services.set_exchange import MAX_ARCHIVE_BYTES, import_set
    from db.engine import session_scope

    if not args.zip.is_file():
        return _fail(f"{args.zip}: no such file")
    if args.zip.stat().st_size > MAX_ARCHIVE_BYTES:
        return _fail(f"{args.zip}: larger than {MAX_ARCHIVE_BYTES // 2**20} MB")
    engine = _library()
    with session_scope(engine) as session:
        result = import_set(session, OPERATOR, args.zip.read_bytes())
    print(
        f"set {result.set_name!r} ({'new' if result.set_created else 'existing'}): cases added {result.cases_added}, "
        f"already present {result.cases_already_present}, added to the set {result.added_to_set}"
    )
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _cmd_limits_stats(args) -> int:
    from db.engine import session_scope
    from db.limits import limits_summary, versions_with_limits

    engine = _library()
    with session_scope(engine) as session:
        versions = versions_with_limits(session)
        version = args.model_version or (versions[0][0] if versions else None)
        if version is None:
            return _fail("no prediction carries limits figures yet; run `python -m db limits` first")
        summary = limits_summary(session, version)
    if summary["predictions_with_limits"] == 0:
        return _fail(
            f"no prediction of model {version} carries limits figures "
            f"(versions with figures: {', '.join(v for v, _ in versions) or 'none'})"
        )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(
        f"model {version}: {summary['predictions_with_limits']} predictions with limits figures "
        f"({summary['predictions_without_limits']} without)"
    )
    print("flag counts:")
    for flag, n in summary["flag_counts"].items():
        print(f"  {flag}: {n}")
    print("error rate by flag (labelled cases):")
    for flag, e in summary["error_rate_by_flag"].items():
        rate = "—" if e["error_rate"] is None else f"{e['error_rate']:.1%}"
        print(f"  {flag}: {rate} ({e['wrong']} wrong of {e['cases']})")
    print("mean in-lung CAM share:")
    for key in ("correct", "wrong"):
        part = summary["lung_share"][key]
        mean = "—" if part["mean"] is None else f"{part['mean']:.3f}"
        print(f"  {key}: {mean} over {part['cases']} cases")
    print("reviewers' latest verdicts:")
    for flag, counts in summary["reviews"].items():
        print(f"  {flag}: confirmed {counts['confirmed']} · rejected {counts['rejected']}")
    return 0


def _cmd_migrate(args) -> int:
    from db.engine import current_revision, describe_url

    engine = _library()
    print(f"{describe_url(str(engine.url))} is at revision {current_revision(engine)}")
    return 0


def _new_password() -> str | None:
    """From CXR_NEW_USER_PASSWORD (scripts) or typed twice without echo; None if the two differ."""
    import getpass

    from_env = settings.new_user_password()
    if from_env:
        return from_env
    first = getpass.getpass("Password: ")
    return first if getpass.getpass("Password again: ") == first else None


def _cmd_users_create(args) -> int:
    from db.engine import session_scope
    from db.users import check_roles, clean_name, create_user

    name, roles = clean_name(args.name), check_roles(args.role)  # refuse bad input before asking for a password
    try:
        password = _new_password()
    except EOFError:
        return _fail(f"no password given (type it, or set {settings.NEW_USER_PASSWORD})")
    if password is None:
        return _fail("the two passwords differ; no user was created")
    with session_scope(_library()) as session:
        user = create_user(session, OPERATOR, name, password, roles)
    print(f"created user {user.name!r} with role(s) {', '.join(roles)}")
    return 0


def _cmd_users_active(args) -> int:
    from db.engine import session_scope
    from db.users import set_active

    with session_scope(_library()) as session:
        user = set_active(session, OPERATOR, args.name, args.active)
    print(f"user {user.name!r} is now {'active' if user.active else 'deactivated'}")
    return 0


def _cmd_users_list(args) -> int:
    from db.engine import session_scope
    from db.users import list_users

    with session_scope(_library()) as session:
        for user in list_users(session):
            roles = ",".join(r.role for r in user.roles)
            print(f"{user.name}\t{roles}\t{'active' if user.active else 'deactivated'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m db",
        description="CXR Teaching Lab case library (SQLite in data/ by default; DATABASE_URL for PostgreSQL)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import a folder (NORMAL/ and PNEUMONIA/ give ground truth; loose files none)")
    p.add_argument("folder", type=Path)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("predict", help="add the installed model's predictions to cases that lack them")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "limits", help="add lung/marker/border figures and shortcut flags to stored predictions lacking them"
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_limits)

    p = sub.add_parser("stats", help="counts of cases, images, predictions, reports, teaching sets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("seed-demo", help="import the demo cases (../shared/data/kermany224/test) now")
    p.add_argument("--force", action="store_true", help="run even if the library says it was seeded")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_seed_demo)

    p = sub.add_parser("bench-gallery", help="time the gallery query on a synthetic library (temporary SQLite file)")
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--url", default=None, help="an EMPTY database to bench instead (rows are written into it)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bench_gallery)

    p = sub.add_parser("backup", help="a consistent copy of the library while the app runs (SQLite or pg_dump)")
    p.add_argument("out", type=Path)
    p.set_defaults(func=_cmd_backup)

    p = sub.add_parser("restore", help="replace the library by a backup made with `backup`")
    p.add_argument("file", type=Path)
    p.add_argument("--yes", action="store_true", help="yes, replace the whole library")
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser(
        "bench-import", help="import kermany224/test X-rays with every figure into a temporary library: cases/s"
    )
    p.add_argument("--cases", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--url", default=None, help="an EMPTY database to bench instead (rows are written into it)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bench_import)

    p = sub.add_parser("export-set", help="write a teaching set as a zip (images + manifest.json)")
    p.add_argument("name")
    p.add_argument("out", type=Path)
    p.set_defaults(func=_cmd_export_set)

    p = sub.add_parser("import-set", help="import a teaching-set zip (no duplicates)")
    p.add_argument("zip", type=Path)
    p.set_defaults(func=_cmd_import_set)

    p = sub.add_parser("limits-stats", help="flag counts, error rate by flag, mean in-lung CAM share right vs wrong")
    p.add_argument(
        "--model-version", default=None, help="default: the version with the most predictions carrying figures"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_limits_stats)

    p = sub.add_parser("migrate", help="create or upgrade the library's schema and print its revision")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("users", help="create, list, deactivate or reactivate the app's users")
    users = p.add_subparsers(dest="users_command", required=True)
    q = users.add_parser("create", help=f"add a user (password prompted, or from ${settings.NEW_USER_PASSWORD})")
    q.add_argument("name")
    q.add_argument(
        "--role",
        action="append",
        required=True,
        choices=("instructor", "student", "reviewer"),
        help="repeat for several roles; an instructor holds every role",
    )
    q.set_defaults(func=_cmd_users_create)
    q = users.add_parser("deactivate", help="stop a user from logging in (their quiz history is kept)")
    q.add_argument("name")
    q.set_defaults(func=_cmd_users_active, active=False)
    q = users.add_parser("activate", help="let a deactivated user log in again")
    q.add_argument("name")
    q.set_defaults(func=_cmd_users_active, active=True)
    q = users.add_parser("list", help="every user with roles and status")
    q.set_defaults(func=_cmd_users_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    from core.settings import database_url
    from db.engine import describe_url
    from db.errors import LibraryError, is_connection_problem

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LibraryError as exc:
        return _fail(str(exc))
    except Exception as exc:
        if is_connection_problem(exc):
            reason = (
                str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                if str(getattr(exc, "orig", exc)).strip()
                else type(exc).__name__
            )
            return _fail(f"cannot use the library at {describe_url(database_url())}: {reason}")
        raise
    except KeyboardInterrupt:
        print(
            "interrupted: finished batches are saved; run the same command again to complete the job", file=sys.stderr
        )
        return 130
