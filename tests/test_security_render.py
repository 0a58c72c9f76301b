"""Stored text is shown as text (issue 18): hostile titles, notes, tags, set names, reviewer names and file
names, stored through the real library and services, rendered to other users by the real pages (AppTest on
a SQLite library); the escaping itself (core.safe_text) against a CommonMark parser; download names, CSV
cells and zip member names.
"""

from __future__ import annotations

import csv
import html
import io
import json
import zipfile

import numpy as np
import pytest
from auth_support import ensure_user, sign_in
from limits_support import lung_mask, make_limits, synthetic_xray
from quiz_support import start_quiz
from security_payloads import (
    FORMULA,
    KOREAN,
    NOTES,
    PARSER,
    PAYLOADS,
    assert_page_is_text,
    inert,
    line,
    plotly_texts,
    shown,
)
from sqlalchemy import select
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from test_db_pages import library_env

from core.explain.limits import pack_mask
from core.i18n import translator
from core.safe_text import csv_cell, md, md_code, md_param, plotly_label, safe_filename
from core.services import quiz
from core.services.set_exchange import FORMAT, BadArchive, import_set, read_archive
from core.teaching.class_stats import CSV_COLUMNS, to_csv
from core.vocabulary import Worded
from db import limits as lim
from db import repository as repo
from db import teaching
from db.codec import encode_image
from db.engine import ensure_library, session_scope
from db.errors import LibraryError
from db.models import Case
from db.operator import OPERATOR
from db.users import create_user

TITLE = line("title")
SET = line("set")
TRUTH_BY = line("truth", limit=100)  # the manifest's truth_set_by holds at most 100 characters
REVIEWER = line("reviewer", limit=100, start=2)  # the link and the image
REFERENCE_BY = line("reference", limit=100, start=4)
SOURCE = f"teaching set: {SET}"[:200]  # what the import records as the case's source
FILE_NAME = line("upload") + ".png"
EVIL_ENTRY = "![t](http://evil.example/p.png)"


# ---------- the escaping, against a CommonMark parser -------------------------------------------------

EXTRA = [
    "Case #12 (R marker)",
    "person1_virus_6 _x_ a__b__ __c",
    "1. one\n2) two\n- item\n+ plus\n---\n===\n    four spaces\n> quote",
    "www.evil.example name@host.example http://x.example/y <http://z.example>",
    "$x^2$ | a | b |\n|---|---|\n~~gone~~ ~x~",
    ":red[coloured] :material/home: `code` ``two``",
    "&lt; &amp; &#65; a\\b\\",
    "우하엽 경화\n\n두 번째 문단",
]


@pytest.mark.parametrize("text", PAYLOADS + EXTRA)
def test_md_round_trip_shows_exactly_the_text_and_nothing_else(text):
    out = md(text)
    kinds = {t.type for token in PARSER.parse(out) for t in [token, *(token.children or [])]}
    assert kinds <= {"paragraph_open", "paragraph_close", "inline", "text", "hardbreak", "softbreak"}, kinds
    assert not inert(out)
    assert shown(out).rstrip("\n") == text  # what Streamlit's Markdown would display is the input
    if "\n\n" not in text:  # inside a template, as pages use it: the template's bold is all the formatting
        inline = PARSER.parse(f"**#1 {md(text)}**")[1].children
        assert [t.type for t in inline if t.type not in ("text", "hardbreak")] == ["strong_open", "strong_close"]


def test_plain_names_and_korean_are_left_as_they_are():
    for text in ("tester", "Week 1", "person1_virus_6", "Look behind the heart.", KOREAN.split(":")[0]):
        assert md(text) == text


@pytest.mark.parametrize("text", PAYLOADS + ["a`b", "`x", "``y``", " z "])
def test_md_code_is_one_literal_code_span(text):
    [inline] = [t for t in PARSER.parse(md_code(text)) if t.type == "inline"]
    assert [t.type for t in inline.children] == ["code_inline"] and inline.children[0].content == text


def test_format_arguments_and_refusals_stay_escaped_in_both_languages():
    assert "Created {name}.".format(name=md_param("**x**")) == "Created \\*\\*x\\*\\*."
    assert "{name!r} exists".format(name=md_param("[a](javascript:b)")) == "'\\[a\\](javascript\\:b)' exists"
    assert f"{md_param(2.25):.1f} MB" == "2.2 MB"
    with pytest.raises(BadArchive) as refusal:
        read_archive(make_zip({EVIL_ENTRY: b"x", "manifest.json": b"{}"}))
    for language in ("en", "ko"):
        text = translator(language).worded(refusal.value, escape=md_param)
        assert not inert(text) and f"'{EVIL_ENTRY}'" in shown(text)
        assert "'!\\[t\\](http\\://evil.example/p.png)'" in text  # the entry's brackets escaped
    assert f"'{EVIL_ENTRY}'" in str(refusal.value)  # the CLI's plain text is unchanged
    nested = Worded("{title}: {reason}", title="**x**", reason=Worded("kept {name}", name="<img src=x>"))
    assert translator("en").worded(nested, escape=md_param) == "\\*\\*x\\*\\*: kept \\<img src=x\\>"


def test_plotly_labels_file_names_and_csv_cells():
    for text in PAYLOADS:
        assert html.unescape(plotly_label(text)) == text and "<" not in plotly_label(text)
    for hostile in (
        "../../etc/passwd",
        "..\\..\\boot.ini",
        "a/b\\c",
        "x\x00y\x1b[31m\u202egpj.exe",
        "..",
        " . ",
        "CON",
    ):
        name = safe_filename(hostile, "zip", fallback="teaching-set")
        assert name.endswith(".zip") and "/" not in name and "\\" not in name and ".." not in name, name
        assert all(ch.isprintable() for ch in name) and "\u202e" not in name and not name.startswith("."), name
    assert safe_filename("CON", "zip", fallback="set") == "set.zip"
    assert safe_filename(f"주간 폐렴 세트 {KOREAN}", "zip") == "주간 폐렴 세트 폐렴 의심_ 우하엽 경화 #12 (R 표지).zip"
    assert safe_filename("Week 1", "csv") == "Week 1.csv" and len(safe_filename("x" * 500, "zip")) == 154
    assert len(safe_filename("폐" * 100, "zip").encode()) == 150 + 4  # whole letters, 150 bytes
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", FORMULA):
        assert csv_cell(cell) == "'" + cell
    assert csv_cell("Week 1") == "Week 1" and csv_cell(-0.5) == -0.5 and csv_cell(None) is None
    row = {name: None for name in CSV_COLUMNS} | {"user": "sam", "source": SET, "case_title": TITLE, "answer": "-1"}
    [parsed] = list(csv.DictReader(io.StringIO(to_csv([type("Row", (), row)()]))))
    assert parsed["case_title"] == "'" + TITLE and parsed["source"] == "'" + SET and parsed["user"] == "sam"


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def payload_zip(seed: int = 5) -> bytes:
    """A well-formed teaching-set zip whose every text field is hostile."""
    encoded = encode_image(synthetic_xray(seed))
    image = f"images/{encoded.sha256}.png"
    case = {"image": image, "sha256": encoded.sha256, "title": TITLE, "truth_label": "PNEUMONIA"}
    case |= {"truth_set_by": TRUTH_BY, "notes": NOTES, "tags": PAYLOADS, "difficulty": "hard"}
    manifest = {"format": FORMAT, "format_version": 1, "set": {"name": SET, "description": NOTES}, "cases": [case]}
    return make_zip({"manifest.json": json.dumps(manifest).encode(), image: encoded.png})


@pytest.mark.parametrize("member", ["../../evil.png", "images/../../evil.png", "..\\evil.png", "/tmp/evil.png"])
def test_set_import_refuses_member_paths_and_writes_no_file(library_env, member, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_zip({member: b"x", "manifest.json": b"{}"})
    with pytest.raises(BadArchive, match="unexpected entry"):
        with session_scope(ensure_library(library_env)) as s:
            import_set(s, OPERATOR, data)
    assert not [p for p in tmp_path.parent.rglob("evil*")]  # read in memory only: nothing was extracted


def test_names_that_cannot_carry_payloads_are_refused(library_env):
    with session_scope(ensure_library(library_env)) as s:
        for payload in PAYLOADS:
            with pytest.raises(LibraryError):
                create_user(s, OPERATOR, payload, "long enough password", ["student"])
            with pytest.raises(LibraryError):
                lim._check_tags([payload])  # reviewer tags come from core.vocabulary.REVIEW_TAGS only


# ---------- the pages, showing the payloads to other users ----------------------------------------------


@pytest.fixture
def payload_library(library_env, use_trained_weights):
    """One imported case and set, every text hostile, with a prediction carrying limits figures, a
    reference, a reviewer's verdict and one student answer; users ian (instructor), stu, rev."""
    from core.models.weights import WEIGHTS_FILE, sha256_file

    version = sha256_file(use_trained_weights / WEIGHTS_FILE)[:12]  # the installed model's, without loading it
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        result = import_set(s, OPERATOR, payload_zip())
        case = s.scalars(select(Case)).one()
        case_id, set_id = case.id, teaching.find_set(s, SET).id
        teaching.publish_set(s, OPERATOR, set_id)
        cam = np.zeros((7, 7), dtype=np.float32)
        cam[2, 3] = 1.0
        repo.add_prediction(
            s,
            case.image_id,
            repo.PredictionRecord(
                model_version=version,
                probability=0.8,
                label="PNEUMONIA",
                threshold=0.5,
                cam=cam,
                cam_target="PNEUMONIA",
                cam_summary={"peak": None},
                limits=make_limits(0.3, ["heatmap_on_marker"], -0.2),
                lung_mask=pack_mask(lung_mask(5)),
            ),
        )
        repo.set_reference(s, OPERATOR, case_id, "Right lower lobe consolidation.", REFERENCE_BY)
    assert result.set_name == SET and result.cases_added == 1
    with session_scope(engine) as s:
        lim.review_flag(s, OPERATOR, case_id, version, "heatmap_on_marker", "confirmed", REVIEWER)
    users = {name: ensure_user(name, [role]) for name, role in (("ian", "instructor"), ("stu", "student"))}
    users["rev"] = ensure_user("rev", ["reviewer"])
    return engine, case_id, set_id, users


def downloads(monkeypatch) -> list[tuple[str | None, bytes]]:
    """(file name, content) of everything offered through st.download_button from now on."""
    offered: list[tuple[str | None, bytes]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        if kind.name == "DOWNLOADABLE":
            data = path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode()
            offered.append((filename, data))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return offered


def app_as(user_id: int) -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    at = AppTest.from_file("../Home.py", default_timeout=300)
    return sign_in(at, user_id).run()


def test_instructor_pages_show_stored_payloads_as_text(payload_library, monkeypatch, tmp_path):
    engine, case_id, set_id, users = payload_library
    files = downloads(monkeypatch)
    with session_scope(engine) as s:  # a student's answer, for the dashboard
        attempt = quiz.start_attempt(s, users["stu"], "diagnose", 1, set_id=set_id)
    with session_scope(engine) as s:
        quiz.record_answer(s, attempt.id, users["stu"], 0, "NORMAL", 0.7)
    at = app_as(users["ian"])

    at.switch_page("pages/case_gallery.py").run()  # the grid: title and tags
    assert_page_is_text(at, f"#{case_id} {TITLE}", *(p.lower() for p in PAYLOADS))
    at.button(key=f"open_{case_id}").click().run()  # the case: title, source, who set the truth, sets
    assert_page_is_text(
        at, f"Case #{case_id}: {TITLE}", f"Source: {SOURCE}", f"set by {TRUTH_BY} on", f"Written by {REFERENCE_BY}", SET
    )
    at.button(key="case_back").click().run()

    at.radio(key="gallery_view").set_value("Teaching sets").run()  # the set: name, rows, its zip's file name
    assert_page_is_text(at, SET, f"1. #{case_id} {TITLE}")
    at.button(key=f"ts_export_{set_id}").click().run()
    assert_page_is_text(at)
    [zip_name] = {n for n, _data in files if n and n.endswith(".zip")}
    assert zip_name == safe_filename(SET, "zip") and "/" not in zip_name and ".." not in zip_name
    hostile = make_zip({EVIL_ENTRY: b"x", "manifest.json": b"{}"})
    at.file_uploader(key="ts_import").upload("set.zip", hostile, "application/zip").run()
    at.button(key="ts_import_btn").click().run()  # the zip's member name inside the refusal
    assert_page_is_text(at, f"unexpected entry '{EVIL_ENTRY}'")

    at.switch_page("pages/dashboard.py").run()  # the class: title, set name in the chart, the CSV
    assert_page_is_text(at, f"#{case_id} · {TITLE}")
    assert SET in {html.unescape(t) for t in plotly_texts(at)}
    answers = [data for n, data in files if n == "quiz_answers.csv"][-1]
    [row] = list(csv.DictReader(io.StringIO(answers.decode())))
    assert row["case_title"] == "'" + TITLE and row["source"] == "'" + SET

    at.switch_page("pages/analyze.py").run()  # an upload's file name inside the refusal
    at.file_uploader(key="analyze_upload").upload(FILE_NAME, b"not an image at all", "image/png").run()
    assert_page_is_text(at, f"{FILE_NAME} was not analysed")


def test_quiz_and_model_limits_show_stored_payloads_as_text(payload_library):
    engine, case_id, set_id, users = payload_library
    at = app_as(users["stu"])
    at.switch_page("pages/quiz.py").run()
    assert_page_is_text(at)
    started = start_quiz(at, engine, set_id=set_id, mode="diagnose", length=1)
    at.radio(key=f"quiz_answer_{started.id}_0").set_value("PNEUMONIA")
    at.button(key=f"quiz_submit_{started.id}_0").click().run()  # the reveal: title, the set, the notes
    seen = assert_page_is_text(at, f"Case 1 of 1: {TITLE}", SET, "Instructor's notes.", *PAYLOADS)
    assert "**bold**\n# heading\n" in seen  # each note line as typed: no bold, no heading

    sign_in(at, users["rev"])
    at.switch_page("pages/model_limits.py").run()  # the card's title
    assert_page_is_text(at, f"#{case_id} {TITLE}")
    at.button(key=f"lim_open_{case_id}").click().run()  # the reviewer's name, the set, the title
    assert_page_is_text(at, f"Case #{case_id}: {TITLE}", f"by {REVIEWER} on", f"In: {SET}")
