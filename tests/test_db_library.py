"""Repository, gallery queries, teaching sets and zip exchange, on SQLite and PostgreSQL."""

import io
import json
import re
import zipfile
from datetime import UTC

import numpy as np
import pytest
from db_support import library, library_url, pg_server

from core.i18n import translator
from core.services.set_exchange import BadArchive, export_set, import_set
from core.vocabulary import PLACEHOLDER_VERSION
from db import repository as repo
from db import teaching
from db.codec import encode_image, pack_cam, unpack_cam
from db.engine import session_scope
from db.errors import CaseChanged, LibraryError
from db.operator import OPERATOR
from db.repository import GalleryFilter, PredictionRecord

MODEL = "abc123abc123"


def gray(seed: int, size: int = 96) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def add(s, seed, title, truth=None, p=None, tags=(), notes="", model=MODEL, uncertainty=None):
    image, _ = repo.add_image(s, encode_image(gray(seed)), "PNG")
    case, _ = repo.add_case(s, image, title, "test", truth_label=truth, truth_set_by="tester" if truth else None)
    if p is not None:
        label = "PNEUMONIA" if p >= 0.5 else "NORMAL"
        repo.add_prediction(
            s,
            image.id,
            PredictionRecord(
                model, p, label, 0.5, np.full((7, 7), 0.5), label, {"peak": None}, uncertainty=uncertainty
            ),
        )
    if tags or notes:
        repo.update_case(s, OPERATOR, case.id, None, tags=list(tags), notes=notes)
    return case.id


@pytest.fixture
def filled(library):
    with session_scope(library) as s:
        ids = {
            "tp": add(
                s,
                1,
                "true positive",
                "PNEUMONIA",
                0.95,
                tags=["lobar", "classic"],
                notes="Air bronchogram, right lower",
            ),
            "tn": add(s, 2, "true negative", "NORMAL", 0.05),
            "fp": add(s, 3, "false positive", "NORMAL", 0.80, tags=["marker"], notes="Marker on the border"),
            "fn": add(s, 4, "false negative", "PNEUMONIA", 0.45, tags=["lobar"]),
            "unl": add(s, 5, "unlabelled", None, 0.55),
            "nopred": add(s, 6, "no prediction", "NORMAL", None),
        }
    return library, ids


def test_reference_is_written_with_who_and_when_and_cleared_by_empty_text(filled):
    engine, ids = filled
    case_id = ids["tp"]
    with session_scope(engine) as s:
        rev = repo.get_case(s, case_id).revision
    with pytest.raises(LibraryError, match="who writes the reference"):
        with session_scope(engine) as s:
            repo.set_reference(s, OPERATOR, case_id, "Right lower lobe consolidation.", "  ")
    with pytest.raises(LibraryError, match="under 20,000"):
        with session_scope(engine) as s:
            repo.set_reference(s, OPERATOR, case_id, "x" * 20_001, "Dr Ada")
    with session_scope(engine) as s:
        assert repo.get_case(s, case_id).reference_text is None  # refusals changed nothing
        repo.set_reference(s, OPERATOR, case_id, "  Right lower lobe consolidation.\n", "Dr Ada", rev)
    with session_scope(engine) as s:
        case = repo.get_case(s, case_id)
        assert (case.reference_text, case.reference_by, case.revision) == (
            "Right lower lobe consolidation.",
            "Dr Ada",
            rev + 1,
        )
        assert case.reference_at is not None and case.notes == "Air bronchogram, right lower"
    with pytest.raises(CaseChanged):  # written on a stale copy
        with session_scope(engine) as s:
            repo.set_reference(s, OPERATOR, case_id, "stale", "Dr Bob", rev)
    with session_scope(engine) as s:
        repo.set_reference(s, OPERATOR, case_id, "   ", "Dr Bob")
    with session_scope(engine) as s:
        case = repo.get_case(s, case_id)
        assert (case.reference_text, case.reference_by, case.reference_at) == (None, None, None)


def test_latest_report_per_case_for_cases_with_a_reference(filled):
    from datetime import datetime, timedelta, timezone

    engine, ids = filled
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as s:

        def report(case_id, text, minutes, language="en"):
            s.add(
                repo.Report(
                    case_id=case_id,
                    content={"sections": {"summary": text}},
                    language=language,
                    created_at=t0 + timedelta(minutes=minutes),
                )
            )

        report(ids["tp"], "newest", 10)
        report(ids["tp"], "older but inserted later", 5, "ko")  # newest by time, not by id
        report(ids["tn"], "tn report", 1)  # no reference: left out
        report(ids["fn"], "fn report", 1)
        s.flush()
        repo.set_reference(s, OPERATOR, ids["tp"], "tp reference", "Dr Ada")
        repo.set_reference(s, OPERATOR, ids["fn"], "fn reference", "Dr Ada")
        repo.set_reference(s, OPERATOR, ids["fp"], "fp reference, no report", "Dr Ada")
    with session_scope(engine) as s:
        found = repo.latest_reports_with_reference(s, [ids["tp"], ids["tn"], ids["fp"], ids["unl"]])
        assert repo.latest_reports_with_reference(s, []) == {}
    assert set(found) == {ids["tp"]}  # fn is not among the asked ids
    r = found[ids["tp"]]
    assert (r.reference, r.content["sections"]["summary"], r.language) == ("tp reference", "newest", "en")


def ids_for(engine, filters, model=MODEL, **kw):
    with session_scope(engine) as s:
        return [r.case_id for r in repo.gallery_page(s, filters, model, **kw).rows]


def test_images_and_cases_are_stored_once_by_pixel_content(library):
    with session_scope(library) as s:
        a, created_a = repo.add_image(s, encode_image(gray(1)), "PNG")
        b, created_b = repo.add_image(s, encode_image(gray(1).copy()), "JPEG")
        assert a.id == b.id and created_a and not created_b
        c1, new1 = repo.add_case(s, a, "first", "x")
        c2, new2 = repo.add_case(s, b, "second title ignored", "y")
        assert c1.id == c2.id and new1 and not new2 and c2.title == "first"
        assert repo.stats(s) == {"cases": 1, "images": 1, "predictions": 0, "reports": 0, "teaching_sets": 0}
        stored = a.png
    from db.codec import decode_png

    assert np.array_equal(decode_png(stored), gray(1))


def test_prediction_unique_per_image_and_model_and_placeholder_refused(library):
    cam = np.random.default_rng(0).random((7, 7)).astype(np.float32)
    with session_scope(library) as s:
        image, _ = repo.add_image(s, encode_image(gray(9)), "PNG")
        rec = PredictionRecord(MODEL, 0.7, "PNEUMONIA", 0.5, cam, "PNEUMONIA", {"peak": None})
        first, created = repo.add_prediction(s, image.id, rec)
        again, created_again = repo.add_prediction(
            s, image.id, PredictionRecord(MODEL, 0.1, "NORMAL", 0.5, cam, "NORMAL", {})
        )
        assert created and not created_again and again.id == first.id and again.probability == pytest.approx(0.7)
        assert repo.add_prediction(s, image.id, PredictionRecord("other", 0.2, "NORMAL", 0.5, cam, "NORMAL", {}))[1]
        with pytest.raises(LibraryError, match="placeholder"):
            repo.add_prediction(
                s, image.id, PredictionRecord(PLACEHOLDER_VERSION, 0.2, "NORMAL", 0.5, cam, "NORMAL", {})
            )
        assert np.allclose(repo.prediction_cam(first), cam, atol=1e-3)
    assert len(pack_cam(cam)) < 120 and unpack_cam(pack_cam(cam), 7, 7).shape == (7, 7)


def test_gallery_filters(filled):
    engine, ids = filled
    f = GalleryFilter
    assert set(ids_for(engine, f())) == set(ids.values())
    assert set(ids_for(engine, f(truth="NORMAL"))) == {ids["tn"], ids["fp"], ids["nopred"]}
    assert ids_for(engine, f(truth="unlabelled")) == [ids["unl"]]
    assert set(ids_for(engine, f(predicted="PNEUMONIA"))) == {ids["tp"], ids["fp"], ids["unl"]}
    assert set(ids_for(engine, f(outcome="correct"))) == {ids["tp"], ids["tn"]}
    assert ids_for(engine, f(outcome="false_positive")) == [ids["fp"]]
    assert ids_for(engine, f(outcome="false_negative")) == [ids["fn"]]
    assert set(ids_for(engine, f(outcome="wrong"))) == {ids["fp"], ids["fn"]}
    assert set(ids_for(engine, f(probability=(0.4, 0.9)))) == {ids["fp"], ids["fn"], ids["unl"]}
    assert set(ids_for(engine, f(uncertain=True))) == {ids["fn"], ids["unl"]}
    assert set(ids_for(engine, f(tags=["lobar"]))) == {ids["tp"], ids["fn"]}
    assert ids_for(engine, f(tags=["LOBAR", "classic"])) == [ids["tp"]]
    assert ids_for(engine, f(text="bronchogram")) == [ids["tp"]]
    assert ids_for(engine, f(text="100%")) == []  # LIKE wildcards are escaped
    assert ids_for(engine, f(text="MARKER")) == [ids["fp"]]
    # Another model version's predictions are not this model's: nothing to filter on.
    assert ids_for(engine, f(predicted="PNEUMONIA"), model="another-model") == []
    # No trained model: prediction filters match nothing, and rows carry no prediction.
    assert ids_for(engine, f(outcome="correct"), model=None) == []
    with session_scope(engine) as s:
        rows = repo.gallery_page(s, f(), None).rows
    assert all(r.predicted is None and r.probability is None for r in rows)


def test_gallery_sort_and_pagination(filled):
    engine, ids = filled
    by_p = ids_for(engine, GalleryFilter(), sort="probability_desc")
    assert by_p[:5] == [ids["tp"], ids["fp"], ids["unl"], ids["fn"], ids["tn"]] and by_p[-1] == ids["nopred"]
    assert ids_for(engine, GalleryFilter(), sort="uncertain")[:2] == [ids["fn"], ids["unl"]]
    with session_scope(engine) as s:
        pages = [repo.gallery_page(s, GalleryFilter(), MODEL, sort="title", page=n, per_page=4) for n in (1, 2, 3)]
    assert [p.total for p in pages] == [6, 6, 6] and pages[0].pages == 2
    titles = [r.title for r in pages[0].rows + pages[1].rows]
    assert titles == sorted(titles) and len(set(titles)) == 6
    assert [r.case_id for r in pages[2].rows] == [r.case_id for r in pages[1].rows]  # clamped to the last page


def test_edits_use_revisions_and_truth_changes_are_recorded(filled):
    engine, ids = filled
    case_id = ids["unl"]
    with session_scope(engine) as s:
        rev = repo.get_case(s, case_id).revision
        repo.update_case(
            s, OPERATOR, case_id, rev, notes="first", tags="Viral Pattern, child , child", difficulty="hard"
        )
    with session_scope(engine) as s:
        case = repo.get_case(s, case_id)
        assert (case.notes, [t.tag for t in case.tags], case.difficulty, case.revision) == (
            "first",
            ["child", "viral pattern"],
            "hard",
            rev + 1,
        )
    with pytest.raises(CaseChanged, match="changed by someone else"):  # an edit made on the stale copy
        with session_scope(engine) as s:
            repo.update_case(s, OPERATOR, case_id, rev, notes="stale overwrite")
    with pytest.raises(LibraryError, match="who"):
        with session_scope(engine) as s:
            repo.set_truth(s, OPERATOR, case_id, "PNEUMONIA", "  ")
    with session_scope(engine) as s:
        repo.set_truth(s, OPERATOR, case_id, "PNEUMONIA", "Dr Ada")
        repo.set_truth(s, OPERATOR, case_id, "NORMAL", "Dr Bob")
    with session_scope(engine) as s:
        case = repo.get_case(s, case_id)
        history = [(h.old_label, h.new_label, h.changed_by) for h in repo.truth_history(s, case_id)]
        assert case.notes == "first" and (case.truth_label, case.truth_set_by) == ("NORMAL", "Dr Bob")
        assert history == [(None, "PNEUMONIA", "Dr Ada"), ("PNEUMONIA", "NORMAL", "Dr Bob")]
        with pytest.raises(LibraryError):
            repo.set_truth(s, OPERATOR, case_id, "COVID", "Dr Ada")


def test_teaching_set_lifecycle(filled):
    engine, ids = filled
    with session_scope(engine) as s:
        ts = teaching.create_set(s, OPERATOR, "  Pneumonia   basics ", "first steps")
        with pytest.raises(LibraryError, match="empty"):
            teaching.publish_set(s, OPERATOR, ts.id)
        assert teaching.add_to_set(s, OPERATOR, ts.id, [ids["tp"], ids["fn"], ids["tn"], ids["tp"]]) == 3
        assert teaching.add_to_set(s, OPERATOR, ts.id, [ids["fn"]]) == 0
        set_id = ts.id
    with session_scope(engine) as s:
        with pytest.raises(LibraryError, match="already exists"):
            teaching.create_set(s, OPERATOR, "pneumonia basics")
    with session_scope(engine) as s:
        teaching.move_in_set(s, OPERATOR, set_id, ids["tn"], -2)
        teaching.remove_from_set(s, OPERATOR, set_id, ids["fn"])
        teaching.rename_set(s, OPERATOR, set_id, "Basics")
        teaching.describe_set(s, OPERATOR, set_id, "new description")
        teaching.publish_set(s, OPERATOR, set_id)
    with session_scope(engine) as s:
        assert teaching.set_case_ids(s, set_id) == [ids["tn"], ids["tp"]]
        [summary] = teaching.list_sets(s, published_only=True)
        assert (summary.name, summary.description, summary.published, summary.size) == (
            "Basics",
            "new description",
            True,
            2,
        )
        teaching.reorder_set(s, OPERATOR, set_id, [ids["tp"], ids["tn"]])
        with pytest.raises(LibraryError):
            teaching.reorder_set(s, OPERATOR, set_id, [ids["tp"]])
    assert ids_for(engine, GalleryFilter(set_id=set_id), sort="set_order") == [ids["tp"], ids["tn"]]


def test_export_then_import_into_another_library_without_duplicates(filled, tmp_path):
    engine, ids = filled
    with session_scope(engine) as s:
        ts = teaching.create_set(s, OPERATOR, "Errors", "where it fails")
        teaching.add_to_set(s, OPERATOR, ts.id, [ids["fp"], ids["fn"], ids["tp"]])
        data = export_set(s, ts.id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert [c["title"] for c in manifest["cases"]] == ["false positive", "false negative", "true positive"]
    assert manifest["cases"][0]["tags"] == ["marker"] and manifest["cases"][0]["notes"] == "Marker on the border"

    from db.engine import ensure_library, forget_engine

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = ensure_library(other_url)
    with session_scope(other) as s:
        add(s, 4, "already here", "PNEUMONIA", tags=["mine"])  # the false-negative image exists already
        first = import_set(s, OPERATOR, data)
    assert (first.set_created, first.cases_added, first.cases_already_present, first.added_to_set) == (True, 2, 1, 3)
    with session_scope(other) as s:
        again = import_set(s, OPERATOR, data)
        assert (again.set_created, again.cases_added, again.added_to_set) == (False, 0, 0)
        assert repo.stats(s)["cases"] == 3 and repo.stats(s)["teaching_sets"] == 1
        [summary] = teaching.list_sets(s)
        titles = [c.title for c in teaching.set_cases(s, summary.id)]
        assert titles == ["false positive", "already here", "true positive"]
        kept = teaching.set_cases(s, summary.id)[1]
        assert [t.tag for t in kept.tags] == ["lobar", "mine"]  # tags merged, the existing case kept its title
        fp = teaching.set_cases(s, summary.id)[0]
        assert (fp.truth_label, fp.notes) == ("NORMAL", "Marker on the border")
    forget_engine(other_url)


def make_zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def valid_entries(seed: int = 11) -> tuple[dict, dict]:
    encoded = encode_image(gray(seed))
    name = f"images/{encoded.sha256}.png"
    manifest = {
        "format": "cxr-teaching-lab/teaching-set",
        "format_version": 1,
        "set": {"name": "S", "description": ""},
        "cases": [
            {"image": name, "sha256": encoded.sha256, "title": "t", "truth_label": "NORMAL", "notes": "", "tags": []}
        ],
    }
    return manifest, {name: encoded.png}


def hostile_zips():
    manifest, images = valid_entries()
    [(name, png)] = images.items()
    good = {"manifest.json": json.dumps(manifest).encode(), **images}
    wrong_hash = json.loads(json.dumps(manifest))
    other = encode_image(gray(12))
    wrong_hash["cases"][0].update(image=f"images/{other.sha256}.png", sha256=other.sha256)
    bad_label = json.loads(json.dumps(manifest))
    bad_label["cases"][0]["truth_label"] = "<script>"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr(name, b"\0" * (40 * 2**20))  # 40 MB of zeros in ~40 kB
    return {
        "path traversal": (make_zip({**good, "../../evil.sh": b"rm -rf /"}), "paths outside"),
        "absolute path": (make_zip({**good, "/etc/passwd": b"x"}), "unexpected entry"),
        "zip bomb": (bomb.getvalue(), "MB"),
        "not a zip": (b"PK\x03\x04 definitely not", "not a readable zip"),
        "no manifest": (make_zip(images), "no manifest"),
        "manifest not json": (make_zip({**images, "manifest.json": b"{nope"}), "not valid JSON"),
        "wrong format": (
            make_zip({**images, "manifest.json": json.dumps({**manifest, "format": "x"}).encode()}),
            "format",
        ),
        "hash mismatch": (
            make_zip({"manifest.json": json.dumps(wrong_hash).encode(), f"images/{other.sha256}.png": png}),
            "do not match",
        ),
        "bad label": (make_zip({**images, "manifest.json": json.dumps(bad_label).encode()}), "truth_label"),
        "image missing": (make_zip({"manifest.json": json.dumps(manifest).encode()}), "missing from the zip"),
        "not an image": (
            make_zip({"manifest.json": json.dumps(manifest).encode(), name: b"hello"}),
            "not a valid radiograph",
        ),
        "unlisted file": (make_zip({**good, f"images/{'a' * 64}.png": png}), "not in the manifest"),
    }


@pytest.mark.parametrize("kind", list(hostile_zips()))
def test_hostile_or_malformed_zips_are_refused_and_change_nothing(library, kind):
    data, message = hostile_zips()[kind]
    with pytest.raises(BadArchive, match=message) as info:
        with session_scope(library) as s:
            import_set(s, OPERATOR, data)
    assert str(info.value).startswith("Refused")
    # The same refusal in Korean: through the catalogue, with the English wording gone.
    korean = translator("ko").worded(info.value)
    assert korean != str(info.value) and re.search("[가-힣]", korean) and "Refused" not in korean
    with session_scope(library) as s:
        assert repo.stats(s) == {"cases": 0, "images": 0, "predictions": 0, "reports": 0, "teaching_sets": 0}


def test_a_valid_handmade_zip_imports(library):
    manifest, images = valid_entries()
    with session_scope(library) as s:
        result = import_set(s, OPERATOR, make_zip({"manifest.json": json.dumps(manifest).encode(), **images}))
    assert result.cases_added == 1
