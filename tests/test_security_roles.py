"""Every library write checks who acts, on the server, whatever the page offered; the login brake per client.

The replay: each write of the permission table (core.vocabulary.WRITES), called the way its page calls it,
as each role, an inactive instructor, a user id that does not exist, and the operator, on a real SQLite
library. Allowed ones change the library; refused ones raise Forbidden and leave every row as it was.
An inventory test fails when a new writing function appears in db/ (or a service) that neither checks
nor is listed, and a page may not call the unchecked ones. One AppTest: a student on a page whose guard
is missing is still refused by the library. Then the per-client login throttle, with a fake clock.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from auth_support import TEST_PASSWORD, ensure_user, sign_in
from limits_support import add_limits_case, synthetic_xray
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.reports import ReportRecord
from core.vocabulary import ROLES, WRITES, may
from db import limits as lim
from db import repository as repo
from db import teaching, users
from db.codec import encode_image
from db.engine import ensure_library, forget_engine, make_engine, session_scope
from db.errors import Forbidden
from db.models import Base, Case, LoginThrottle, QuizAttempt, TeachingSet, User, utcnow
from db.operator import OPERATOR
from db.permissions import NOT_SIGNED_IN, REFUSALS, refusal, require

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"
KINDS = ("instructor", "student", "reviewer", "inactive", "missing", "operator")
ROLE_OF = {"instructor": ("instructor",), "student": ("student",), "reviewer": ("reviewer",)}
MISSING_USER = 987_654


@dataclass
class World:
    """The template library every replay starts from, and what the calls need."""

    url: str
    actor: dict[str, object]
    service: object
    version: str
    flagged: int  # a case whose prediction carries a flag (reviews, tags, notes, truth, reference)
    pending: int  # a case whose prediction lacks the model-limits figures (the back-fill)
    quiz_case: int
    draft: int
    published: int
    attempts: dict[object, int]
    flagged_sha: str
    analysis: object
    subject: object
    zip: bytes
    empty_folder: Path
    refusals_url: str = ""
    copies: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", autouse=True)
def quick_hashes():
    """Cheap argon2 parameters for this module's many accounts and logins: what is tested is who may act and
    how often a password is checked, not what a check costs (tests/test_users.py keeps the real ones)."""
    from argon2 import PasswordHasher

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "_hasher", quick)
        mp.setattr(users, "_DUMMY_HASH", quick.hash("not a real password"))
        yield


def _sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, limits_weights_dir):
    from core.analysis import Analysis
    from core.imaging.decode import XRayImage
    from core.model_service import ModelService
    from core.services import explanations as ex
    from core.services.set_exchange import export_set

    root = tmp_path_factory.mktemp("roles")
    service = ModelService(limits_weights_dir)
    version = service.version

    # A zip of one set with one case that the template library does not have: importing it adds both.
    other = ensure_library(f"sqlite:///{root / 'other.db'}")
    with session_scope(other) as s:
        case_id = add_limits_case(s, version, 40, "PNEUMONIA", "PNEUMONIA", 0.9)
        zip_set = teaching.create_set(s, OPERATOR, "Imported week")
        teaching.add_to_set(s, OPERATOR, zip_set.id, [case_id])
    with session_scope(other) as s:
        archive = export_set(s, zip_set.id)
    forget_engine(f"sqlite:///{root / 'other.db'}")

    url = f"sqlite:///{root / 'template.db'}"
    engine = ensure_library(url)
    with session_scope(engine) as s:
        actor: dict[str, object] = {
            kind: users.create_user(s, OPERATOR, name, PASSWORD, list(roles)).id
            for kind, name, roles in (
                ("instructor", "ida", ["instructor"]),
                ("student", "stu", ["student"]),
                ("reviewer", "rev", ["reviewer"]),
                ("inactive", "gone", ["instructor"]),
            )
        }
        users.create_user(s, OPERATOR, "victim", PASSWORD, ["student"])  # whom the user admin acts on
        users.set_active(s, OPERATOR, "gone", False)
        actor["missing"], actor["operator"] = MISSING_USER, OPERATOR
        flagged = add_limits_case(s, version, 1, "NORMAL", "PNEUMONIA", 0.2, ["heatmap_on_marker"], -0.3)
        pending = add_limits_case(s, version, 2, "NORMAL", "NORMAL", 0.9, with_limits=False)
        quiz_case = add_limits_case(s, version, 3, "NORMAL", "NORMAL", 0.8)
        bare, _ = repo.add_image(s, encode_image(synthetic_xray(4)), "PNG")  # no prediction yet
        repo.add_case(s, bare, "no prediction yet", "test")
        draft = teaching.create_set(s, OPERATOR, "Draft", "collecting")
        teaching.add_to_set(s, OPERATOR, draft.id, [flagged, pending])
        published = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, published.id, [quiz_case])
        teaching.publish_set(s, OPERATOR, published.id)
        # Every user (the inactive one too) has a quiz of their own, so that a refusal is the role's, not the owner's.
        attempts = {}
        for kind in ("instructor", "student", "reviewer", "inactive"):
            row = QuizAttempt(user_id=actor[kind], source="test", mode="diagnose", case_ids=[quiz_case])
            s.add(row)
            s.flush()
            attempts[actor[kind]] = row.id
        attempts[MISSING_USER] = attempts[actor["student"]]
        flagged_sha = s.get(Case, flagged).image.sha256
        draft_id, published_id = draft.id, published.id
    with session_scope(engine) as s:
        subject = ex.subject_from_case(s, service, flagged)
    forget_engine(url)  # closes the pool: the WAL is folded into the file, which is now the template
    empty = root / "no-demo-cases"
    empty.mkdir()
    w = World(
        url=url,
        actor=actor,
        service=service,
        version=version,
        flagged=flagged,
        pending=pending,
        quiz_case=quiz_case,
        draft=draft_id,
        published=published_id,
        attempts=attempts,
        flagged_sha=flagged_sha,
        # An upload's analysis as Analyze hands it to "Save to library" (built from chosen numbers: the
        # model's part is not what is tested here).
        analysis=Analysis(
            image=XRayImage(synthetic_xray(50), "PNG", 0.0),
            probability=0.8,
            label="PNEUMONIA",
            threshold=0.5,
            model_version=version,
            model_trained=True,
            cam=np.zeros((7, 7), dtype=np.float32),
            cam_target="PNEUMONIA",
            cam_summary={"peak": None},
        ),
        subject=subject,
        zip=archive,
        empty_folder=empty,
    )
    w.refusals_url = copy_of(w, "refusals")
    yield w
    for copy in w.copies:
        forget_engine(copy)


def copy_of(w: World, name: str) -> str:
    target = _sqlite_file(w.url).with_name(f"{name}.db")
    shutil.copy(_sqlite_file(w.url), target)
    url = f"sqlite:///{target}"
    w.copies.append(url)
    return url


def _plain(value):
    return hashlib.blake2b(value, digest_size=16).hexdigest() if isinstance(value, bytes | memoryview) else value


def snapshot(engine) -> dict[str, list[str]]:
    """Every row of every table, as text (blobs by their hash): equal snapshots mean nothing was changed."""
    with engine.connect() as conn:
        return {
            t.name: sorted(repr(tuple(_plain(v) for v in row)) for row in conn.execute(t.select()))
            for t in Base.metadata.sorted_tables
        }


# ---------- each write, called the way its page calls it ---------------------------------------------


def in_session(write):
    def call(engine, actor, w: World):
        with session_scope(engine) as s:  # pages/library_ui.write_shown: one write, one transaction
            return write(s, actor, w)

    return call


def _import_set(s, actor, w):
    from core.services.set_exchange import import_set

    return import_set(s, actor, w.zip)


def _save_case(engine, actor, w):
    from core.services.library_import import save_analysis

    return save_analysis(engine, actor, w.analysis, title="replayed upload")


def _compute_predictions(engine, actor, w):
    from core.services.library_import import predict_missing

    assert predict_missing(engine, actor, w.service) == 1


def _compute_limits(engine, actor, w):
    from core.services.library_import import backfill_limits

    assert backfill_limits(engine, actor, w.service) == 1


def _store_report(engine, actor, w):
    from core.services.report_store import SqlReportStore

    record = ReportRecord(
        image_id=w.flagged_sha,
        model_version=w.version,
        prompt_version="p1",
        llm_model="offline-template",
        language="en",
        source="offline",
        guard_passed=True,
        guard_reasons=(),
        content={"sections": {"summary": "replayed"}},
    )
    return SqlReportStore(engine, actor).add(record)


def _store_explanation(engine, actor, w):
    from core.services.explanations import compute_explanations

    return compute_explanations(engine, actor, w.service, w.subject, "PNEUMONIA", ["gradcam"], {})


def _retry_demo_seed(engine, actor, w):
    from core.services.demo_seed import DemoSeedJob

    job = DemoSeedJob(str(engine.url), lambda: w.service, folder=w.empty_folder, owner="server:replay")
    assert job.retry(actor)
    assert job.wait(120).state == "done", job.progress()


CALLS = {
    "create_set": in_session(lambda s, a, w: teaching.create_set(s, a, "New set", "from the replay")),
    "rename_set": in_session(lambda s, a, w: teaching.rename_set(s, a, w.draft, "Renamed draft")),
    "describe_set": in_session(lambda s, a, w: teaching.describe_set(s, a, w.draft, "other words")),
    "publish_set": in_session(lambda s, a, w: teaching.publish_set(s, a, w.draft, True)),
    "delete_set": in_session(lambda s, a, w: teaching.delete_set(s, a, w.draft)),
    "add_to_set": in_session(lambda s, a, w: teaching.add_to_set(s, a, w.draft, [w.quiz_case])),
    "add_to_published_set": in_session(lambda s, a, w: teaching.add_to_set(s, a, w.published, [w.flagged])),
    "remove_from_set": in_session(lambda s, a, w: teaching.remove_from_set(s, a, w.draft, w.flagged)),
    "move_in_set": in_session(lambda s, a, w: teaching.move_in_set(s, a, w.draft, w.flagged, 1)),
    "reorder_set": in_session(lambda s, a, w: teaching.reorder_set(s, a, w.draft, [w.pending, w.flagged])),
    "import_set": in_session(_import_set),
    "save_case": _save_case,
    "update_case": in_session(
        lambda s, a, w: repo.update_case(s, a, w.flagged, None, notes="replayed", tags=["replay"], difficulty="hard")
    ),
    "add_case_tags": in_session(lambda s, a, w: repo.add_tags(s, a, w.flagged, ["replay"])),
    "set_truth": in_session(lambda s, a, w: repo.set_truth(s, a, w.flagged, "PNEUMONIA", "ida")),
    "set_reference": in_session(lambda s, a, w: repo.set_reference(s, a, w.flagged, "Left lower lobe.", "ida")),
    "review_flag": in_session(
        lambda s, a, w: lim.review_flag(s, a, w.flagged, w.version, "heatmap_on_marker", "confirmed", "rev")
    ),
    "set_limit_tags": in_session(lambda s, a, w: lim.set_limit_tags(s, a, w.flagged, ["R marker"], "rev")),
    "compute_limits": _compute_limits,
    "compute_predictions": _compute_predictions,
    "start_quiz": in_session(lambda s, a, w: _quiz().start_attempt(s, a, "diagnose", 1)),
    "answer_quiz": in_session(lambda s, a, w: _quiz().record_answer(s, w.attempts[a], a, 0, "NORMAL", 0.8)),
    "end_quiz": in_session(lambda s, a, w: _quiz().end_attempt(s, w.attempts[a], a)),
    "create_user": in_session(lambda s, a, w: users.create_user(s, a, "newcomer", PASSWORD, ["student"])),
    "set_roles": in_session(lambda s, a, w: users.set_roles(s, a, "victim", ["reviewer"])),
    "set_active": in_session(lambda s, a, w: users.set_active(s, a, "victim", False)),
    "reset_password": in_session(lambda s, a, w: users.reset_password(s, a, "victim")),
    "store_report": _store_report,
    "store_explanation": _store_explanation,
    "retry_demo_seed": _retry_demo_seed,
}
QUIZ_WRITES = {"start_quiz", "answer_quiz", "end_quiz"}  # a user's own: the operator takes no quiz
# Writes that run the model: replayed whole as one allowed role; for the other allowed actors the write's own
# check (the require call the inventory below finds in it) is asked directly, in the write's session.
HEAVY = {"compute_limits": "reviewer", "compute_predictions": "instructor", "store_explanation": "student"}
HEAVY["retry_demo_seed"] = "instructor"


def _quiz():
    from core.services import quiz

    return quiz


def allowed(write: str, kind: str) -> bool:
    if kind == "operator":
        return True
    return kind in ROLE_OF and may(ROLE_OF[kind], write)


CASES = [(w, k) for w in WRITES for k in KINDS if not (k == "operator" and w in QUIZ_WRITES)]


def test_the_replay_covers_the_whole_table_and_every_refusal_is_worded():
    assert set(CALLS) == set(WRITES)
    assert all(set(roles) <= set(ROLES) and roles for roles in WRITES.values())
    assert all(roles in REFUSALS for roles in WRITES.values())  # a worded refusal for every write
    assert refusal("add_to_published_set") != refusal("add_to_set")


@pytest.mark.parametrize(("write", "kind"), CASES, ids=[f"{w}-{k}" for w, k in CASES])
def test_each_write_as_each_actor(world, write, kind):
    actor = world.actor[kind]
    if allowed(write, kind) and HEAVY.get(write, kind) != kind:
        engine = make_engine(world.refusals_url)
        before = snapshot(engine)
        with session_scope(engine) as s:
            require(s, actor, write)
        assert snapshot(engine) == before
        return
    if allowed(write, kind):
        url = copy_of(world, f"{write}-{kind}")
        engine = make_engine(url)
        before = snapshot(engine)
        CALLS[write](engine, actor, world)
        assert snapshot(engine) != before, f"{write} as {kind} changed nothing"
        forget_engine(url)
        return
    engine = make_engine(world.refusals_url)
    before = snapshot(engine)
    with pytest.raises(Forbidden) as refused:
        CALLS[write](engine, actor, world)
    assert snapshot(engine) == before, f"{write} as {kind} was refused but changed the library"
    if kind in ("inactive", "missing"):
        assert refused.value.message == NOT_SIGNED_IN
    else:
        assert refused.value.message in set(REFUSALS.values()) | {refusal("add_to_published_set")}


def test_a_student_answers_and_ends_only_their_own_quiz(world):
    from core.services import quiz
    from db.errors import LibraryError

    engine = make_engine(world.refusals_url)
    with session_scope(engine) as s:
        other = users.create_user(s, OPERATOR, "stu2", PASSWORD, ["student"]).id
    before = snapshot(engine)
    theirs = world.attempts[world.actor["student"]]
    for write in (
        lambda s: quiz.record_answer(s, theirs, other, 0, "NORMAL", 0.8),
        lambda s: quiz.end_attempt(s, theirs, other),
    ):
        with session_scope(engine) as s, pytest.raises(LibraryError, match="That quiz does not exist"):
            write(s)
    assert snapshot(engine) == before


def test_require_takes_the_roles_the_library_holds_now(world):
    engine = make_engine(world.refusals_url)
    with session_scope(engine) as s:
        sam = users.create_user(s, OPERATOR, "sam", PASSWORD, ["instructor"]).id
        assert require(s, sam, "publish_set").name == "sam"
        assert require(s, OPERATOR, "publish_set") is None
    with session_scope(engine) as s:  # demoted since: the next write is refused, whatever a page still believes
        users.set_roles(s, OPERATOR, "sam", ["student"])
    with session_scope(engine) as s:
        for bad in (sam, None, "sam", True):
            with pytest.raises(Forbidden):
                require(s, bad, "publish_set")


# ---------- the inventory: no unchecked write appears unnoticed ----------------------------------------

# Writing functions of db/ that take no acting user, and why. A page may not call any of them.
INTERNAL = {
    "db.repository.add_image": "stored by checked services (save_case, import_set) and the operator's imports",
    "db.repository.add_case": "as add_image",
    "db.repository.add_prediction": "as add_image; and predictions computed by the operator's jobs",
    "db.repository.set_prediction_limits": "the back-fill (compute_limits, checked in the service)",
    "db.repository.set_meta": "the library's own bookkeeping (the demo seed)",
    "db.repository.meta_once": "the library's own secret for the trust quiz, made on first use",
    "db.explanations.store_map": "core.services.explanations.compute_explanations checks store_explanation",
    "db.leases.claim_lease": "the demo seed's lease: the server's own job",
    "db.leases.renew_lease": "as claim_lease",
    "db.leases.release_lease": "as claim_lease",
    "db.bench.seed_synthetic": "the operator's benchmark, on a temporary library",
    "db.bench.run_bench": "as seed_synthetic",
}
# Writes of one's own account, or the first run; pages call them, each with its own guard.
SELF = {
    "db.users.authenticate": "the login itself (its brakes are the guard)",
    "db.users.change_password": "one's own password, with the current one",
    "db.users.set_language": "one's own interface language",
    "db.users.create_first_instructor": "allowed only while the library has no user at all",
    "db.sessions.open_session": "a login's session row",
    "db.sessions.revoke": "a logout",
    "db.sessions.revoke_all": "a password change / reset / deactivation ends the sessions",
    "db.sessions.find_live": "marks the session seen (idle timeout)",
    "db.sessions.live_session": "as find_live",
    "db.sessions.find_by_token_hash": "as find_live, for the browser's cookie",
    "db.sessions.session_by_token_hash": "as find_by_token_hash",
}
# Service functions that write without a check of their own: called by checked ones or by the operator only.
SERVICE_INTERNAL = {
    "core.services.report_store.add_report": "SqlReportStore.add and save_analysis check first",
    "core.services.report_store.add_session_reports": "save_analysis (save_case) and move_to_library check first",
    "core.services.library_import.import_folder": "the operator: `python -m db import`, the demo seed",
    "core.services.import_bench.run_import_bench": "the operator's benchmark, on a temporary library",
}
# The library's own secrets, made once on first use (db.repository.meta_once), and what uses them; no user's
# data. Pages may call these.
SERVICE_BOOKKEEPING = {
    "core.services.quiz.trust_secret": "the key that orders the trust quiz's maps",
    "core.services.trust_quiz.trust_question": "reads the maps in that order (trust_secret)",
    "core.services.trust_quiz.revealed_order": "as trust_question",
    "core.services.sessions.signing_key": "the key that signs session cookies",
    "core.services.sessions.issue": "a login's session (signed with signing_key)",
    "core.services.sessions.find": "a browser's session cookie, checked (signing_key)",
    "core.services.sessions.resume": "as find",
    "core.services.sessions.change_password": "one's own password (db.users.change_password), a new session",
}
SESSION_NAMES = {"session", "s"}
WRITE_METHODS = {"add", "add_all", "delete", "merge"}


def _body(fn: ast.AST):
    """The nodes of a function, without those of functions defined inside it (e.g. event listeners)."""
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))


def _dml(node: ast.AST, statements: set[str]) -> bool:
    """Whether an expression is an INSERT/UPDATE/DELETE statement: insert(…)…, table.delete()…, or a local
    variable holding one (`statements`)."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):  # walk down .where(…).values(…)
        if node.func.attr == "delete" and not node.args:
            return True  # flags.delete(): a Table's DELETE
        node = node.func.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in {"insert", "update", "delete"}
    return isinstance(node, ast.Name) and node.id in statements


def _writes_directly(fn: ast.AST) -> bool:
    """session.add/delete/merge, session.execute(insert/update/delete …), or an attribute set on a row."""
    statements = {
        target.id
        for node in _body(fn)
        if isinstance(node, ast.Assign) and _dml(node.value, set())
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in _body(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in WRITE_METHODS and isinstance(owner, ast.Name) and owner.id in SESSION_NAMES:
                return True
            if node.func.attr == "execute" and any(_dml(arg, statements) for arg in node.args):
                return True
            if node.func.attr in {"append", "remove"} and isinstance(owner, ast.Attribute):
                return True  # a relationship list: row.items.append(...)
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign | ast.AnnAssign)
            else []
        )
        for target in targets:
            parts = target.elts if isinstance(target, ast.Tuple) else [target]
            if any(
                isinstance(p, ast.Attribute) and not (isinstance(p.value, ast.Name) and p.value.id == "self")
                for p in parts
            ):
                return True
    return False


def _checks(fn: ast.AST) -> set[str]:
    """The write names this function passes to require(…) itself."""
    return {
        n.args[2].value
        for n in ast.walk(fn)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "require"
        and len(n.args) == 3
        and isinstance(n.args[2], ast.Constant)
    }


def _functions(tree: ast.Module, module: str) -> dict[str, ast.AST]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[f"{module}.{node.name}"] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{module}.{node.name}.{item.name}"] = item
    return found


def writing_functions(sources: dict[str, str]) -> dict[str, set[str]]:
    """{public function: the writes it checks} for every function that writes, directly or through a
    function of the same module that does (sources: module name → source text)."""
    result = {}
    for module, text in sources.items():
        fns = _functions(ast.parse(text), module)
        writes = {name for name, fn in fns.items() if _writes_directly(fn)}
        changed = True
        while changed:  # through the module's own helpers (e.g. set_limit_tags → add_limit_tag)
            changed = False
            for name, fn in fns.items():
                calls = {
                    f"{module}.{n.func.id}"
                    for n in ast.walk(fn)
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                }
                if name not in writes and calls & writes:
                    writes.add(name)
                    changed = True
        for name in writes:
            if not name.rsplit(".", 1)[1].startswith("_"):
                result[name] = _checks(fns[name])
    return result


def _module_sources(folder: str) -> dict[str, str]:
    return {
        f"{folder.replace('/', '.')}.{p.stem}": p.read_text()
        for p in sorted((REPO / folder).glob("*.py"))
        if p.stem not in ("__init__", "__main__")
    }


def unlisted(found: dict[str, set[str]], listed: dict[str, str]) -> list[str]:
    return sorted(name for name, checked in found.items() if not checked and name not in listed)


def test_every_writing_function_of_db_checks_its_write_or_is_listed():
    found = writing_functions(_module_sources("db"))
    assert unlisted(found, INTERNAL | SELF) == []
    # Known writes are found (the detector is not blind), and they check the table's names.
    assert found["db.teaching.create_set"] == {"create_set"}
    assert found["db.teaching.add_to_set"] == {"add_to_set", "add_to_published_set"}
    assert found["db.users.set_roles"] == {"set_roles"}
    assert "db.repository.add_case" in found and "db.users.authenticate" in found
    assert not {name for name in INTERNAL | SELF if name not in found} - {"db.bench.run_bench"}, "a stale entry"
    for checked in found.values():
        assert checked <= set(WRITES)


def test_a_new_unchecked_write_is_caught():
    sneaky = {
        "db.sneaky": (
            "def rename_quietly(session, set_id, name):\n    session.get(X, set_id).name = name\n\n"
            "def add_quietly(session, row):\n    _helper(session, row)\n\n"
            "def _helper(session, row):\n    session.add(row)\n\n"
            "def checked(session, actor, row):\n    require(session, actor, 'create_set')\n    session.add(row)\n\n"
            "def wipe(session):\n    q = delete(X).where(X.id > 0)\n    session.execute(q)\n\n"
            "def reads(session):\n    return session.execute(select(X).where(X.id == 1)).all()\n"
        )
    }
    assert unlisted(writing_functions(sneaky), INTERNAL) == [
        "db.sneaky.add_quietly",
        "db.sneaky.rename_quietly",
        "db.sneaky.wipe",
    ]


def test_every_writing_service_checks_or_is_listed():
    # Services write through db/ (checked there) or through the unchecked functions above: those calls count.
    unchecked = {name.rsplit(".", 1)[1] for name in INTERNAL | SERVICE_INTERNAL | SERVICE_BOOKKEEPING}
    sources = _module_sources("core/services")
    found = {}
    for module, text in sources.items():
        for name, fn in _functions(ast.parse(text), module).items():
            if name.rsplit(".", 1)[1].startswith("_"):
                continue
            calls_unchecked = any(
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute | ast.Name)
                and (n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) in unchecked
                for n in ast.walk(fn)
            )
            direct = _writes_directly(fn)  # session.add …, DML, a row's attribute set
            if calls_unchecked or direct:
                found[name] = _checks(fn)
    assert unlisted(found, SERVICE_INTERNAL | SERVICE_BOOKKEEPING) == []
    assert not [name for name in SERVICE_INTERNAL | SERVICE_BOOKKEEPING if name not in found], "a stale entry"
    assert found["core.services.library_import.save_analysis"] == {"save_case"}
    assert found["core.services.explanations.compute_explanations"] == {"store_explanation"}
    assert found["core.services.quiz.record_answer"] == {"answer_quiz"}
    assert found["core.services.report_store.SqlReportStore.add"] == {"store_report"}
    # Every name of the table is checked somewhere.
    everywhere = writing_functions(_module_sources("db")) | found
    checked = set().union(*everywhere.values()) | {"retry_demo_seed"}  # DemoSeedJob.retry starts a thread
    assert checked == set(WRITES)


def _page_references(text: str) -> set[str]:
    """module.name of everything a page takes from db/ or core.services (imported names and module.attr)."""
    tree = ast.parse(text)
    names, modules = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("db", "core"):
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
    refs = set(names.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            refs.add(f"{modules[node.value.id]}.{node.attr}")
    return refs


def test_no_page_calls_an_unchecked_write_or_acts_as_the_operator():
    for page in sorted((REPO / "pages").glob("*.py")):
        text = page.read_text()
        refs = _page_references(text)
        unchecked = refs & (set(INTERNAL) | set(SERVICE_INTERNAL))
        assert not unchecked, (page.name, unchecked)
        assert "OPERATOR" not in text and "db.operator" not in text, page.name
    assert _page_references("from db import repository as repo\nrepo.add_case(s)\n") >= {"db.repository.add_case"}


# ---------- a student on a page whose own guard is missing -------------------------------------------


def test_a_student_on_an_unguarded_page_is_refused_by_the_library(monkeypatch, tmp_path, use_placeholder):
    """The Case Gallery's guard is taken away (as if a page forgot it): the student reaches the teaching-set
    forms, and the library itself refuses each instructor write, with the message, changing nothing."""
    import streamlit as st

    from pages import auth_ui

    url = f"sqlite:///{tmp_path / 'lib.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = ensure_library(url)
    with session_scope(engine) as s:
        draft = teaching.create_set(s, OPERATOR, "Week 2").id
    monkeypatch.setattr(auth_ui, "require_role", lambda role: auth_ui.require_login())  # the page's guard, gone
    st.cache_resource.clear()
    # The page run directly (as a typed address or a replayed action would reach it), with the student's session.
    at = sign_in(AppTest.from_file("../pages/case_gallery.py", default_timeout=120), ensure_user("stu", ["student"]))
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Case Gallery"  # the guard really is gone: the student sees the page
    at.radio(key="gallery_view").set_value("Teaching sets").run()
    before = snapshot(engine)
    at.text_input(key="ts_new_name").input("Answers leaked")
    at.button(key="ts_create").click().run()
    assert not at.exception, at.exception
    # A reviewer could collect cases in a new draft set; a student cannot even do that.
    assert [e.value for e in at.error] == [
        "This needs the reviewer or instructor role, which your account does not have; nothing was changed."
    ]
    at.button(key=f"ts_publish_{draft}").click().run()
    assert [e.value for e in at.error] == ["Only an instructor may make this change; nothing was changed."]
    assert snapshot(engine) == before
    with session_scope(engine) as s:
        assert [r.name for r in s.scalars(select(TeachingSet))] == ["Week 2"]


# ---------- the login throttle across user names ------------------------------------------------------


class CountingHasher:
    """db.users' argon2 hasher, counting how many passwords it actually checks."""

    def __init__(self, real):
        self.real, self.verified = real, 0

    def verify(self, *args):
        self.verified += 1
        return self.real.verify(*args)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def login_library(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'logins.db'}"
    engine = ensure_library(url)
    with session_scope(engine) as s:
        for name in ("amy", "ben", "cal"):
            users.create_user(s, OPERATOR, name, PASSWORD, ["student"])
    hasher = CountingHasher(users._hasher)
    monkeypatch.setattr(users, "_hasher", hasher)
    yield engine, hasher, url
    forget_engine(url)


def login(engine, name, password, now, client):
    with session_scope(engine) as s:
        return users.authenticate(s, name, password, now, client=client)


SPRAYER, NEIGHBOUR = "198.51.100.7", "203.0.113.9"


def test_a_spray_across_thirty_names_from_one_client_is_slowed_unchecked(login_library):
    engine, hasher, _url = login_library
    now = utcnow()
    names = [f"user{i:02d}" for i in range(27)] + ["amy", "ben", "cal"]  # mostly unknown, three real
    results = [login(engine, name, "Winter2026!", now, SPRAYER) for name in names]
    free = users.CLIENT_FREE_FAILURES
    assert [r.ok for r in results] == [False] * 30
    assert hasher.verified == free  # after the free failures, no password is even checked
    assert [r.retry_after_seconds for r in results[: free - 1]] == [0] * (free - 1)
    assert results[free - 1].retry_after_seconds == 5  # the last free failure starts the wait
    assert all(r.message == "Too many failed logins: wait 5 s before trying again." for r in results[free:])
    # Each wait waited out, each further failure doubles the next wait, up to the cap.
    waits = []
    for i in range(9):
        now += timedelta(seconds=results[-1].retry_after_seconds)
        results.append(login(engine, f"late{i}", "Spring2026!", now, SPRAYER))
        waits.append(results[-1].retry_after_seconds)
    assert waits == [10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert hasher.verified == free + 9
    assert login(engine, "amy", PASSWORD, now, SPRAYER).message.startswith("Too many failed logins")  # unchecked
    assert hasher.verified == free + 9


def test_another_client_is_unaffected_and_a_correct_login_clears_no_counter(login_library):
    engine, hasher, url = login_library
    now = utcnow()
    for i in range(users.CLIENT_FREE_FAILURES):
        login(engine, f"nobody{i}", "guess", now, SPRAYER)
    assert login(engine, "amy", "guess", now, SPRAYER).retry_after_seconds == 5
    neighbour = login(engine, "amy", PASSWORD, now, NEIGHBOUR)  # the same account, another client: fine
    assert neighbour.ok
    assert login(engine, "ben", "typo", now, NEIGHBOUR).message == "Wrong user name or password."
    with session_scope(engine) as s:
        rows = {r.client_key: r.failures for r in s.scalars(select(LoginThrottle))}
    assert rows == {users.client_key(SPRAYER): users.CLIENT_FREE_FAILURES, users.client_key(NEIGHBOUR): 1}
    assert SPRAYER not in repr(rows) and all(len(k) == 64 for k in rows)  # the address itself is not kept
    # A second server on the same library sees the same brake.
    other_url = url.replace("/logins.db", "/./logins.db")  # the same file, another engine (pool)
    second = make_engine(other_url)
    try:
        assert login(second, "cal", "guess", now, SPRAYER).message.startswith("Too many failed logins")
    finally:
        forget_engine(other_url)
    # The wait over, the right password from that client works; it clears neither counter (a guesser's own
    # valid account would otherwise reset their spray).
    now += timedelta(seconds=5)
    assert login(engine, "cal", PASSWORD, now, SPRAYER).ok
    with session_scope(engine) as s:
        after = {r.client_key: r.failures for r in s.scalars(select(LoginThrottle))}
    assert after == rows


def test_the_client_lock_expires_and_a_quiet_hour_forgets_the_failures(login_library):
    engine, hasher, _url = login_library
    now = utcnow()
    for i in range(users.CLIENT_FREE_FAILURES):
        last = login(engine, f"nobody{i}", "guess", now, SPRAYER)
    assert last.retry_after_seconds == 5
    assert login(engine, "amy", PASSWORD, now + timedelta(seconds=4), SPRAYER).retry_after_seconds == 1
    assert login(engine, "amy", PASSWORD, now + timedelta(seconds=5), SPRAYER).ok
    later = now + users.CLIENT_FORGET_AFTER + timedelta(seconds=6)
    assert login(engine, "nobody", "guess", later, SPRAYER).retry_after_seconds == 0  # counting from one again
    with session_scope(engine) as s:
        assert s.get(LoginThrottle, users.client_key(SPRAYER)).failures == 1
    # Without a client (a signed-in user's password change) there is no client brake, only the account's.
    assert login(engine, "ben", "guess", later, None).message == "Wrong user name or password."
    with session_scope(engine) as s:
        assert s.get(User, 2).failed_logins == 1 and len(s.scalars(select(LoginThrottle)).all()) == 1


def test_the_login_form_shows_the_client_wait_in_korean(tmp_path, monkeypatch, use_placeholder):
    import streamlit as st

    url = f"sqlite:///{tmp_path / 'lib.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = ensure_library(url)
    ensure_user("amy", ["student"])
    now = utcnow()
    for i in range(users.CLIENT_FREE_FAILURES):  # an AppTest has no address: the form uses the shared key
        login(engine, f"nobody{i}", "guess", now, users.UNKNOWN_CLIENT)
    with session_scope(engine) as s:  # a few doublings later: minutes to wait, longer than this test takes
        s.get(LoginThrottle, users.client_key(users.UNKNOWN_CLIENT)).locked_until = now + timedelta(minutes=10)
    st.cache_resource.clear()
    at = AppTest.from_file("../Home.py", default_timeout=120)
    at.session_state["ui_language"] = "ko"
    at.run()
    at.text_input(key="login_name").input("amy")
    at.text_input(key="login_password").input(TEST_PASSWORD)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    [shown] = [e.value for e in at.error]
    assert shown.startswith("로그인 실패가 너무 많습니다.") and "초 후에 다시 시도하세요" in shown
    assert at.title[0].value == "로그인"  # still the login form: amy's right password was not even checked
