"""No identifier from file metadata reaches the library; parallel writers never lose a write."""

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from db_support import library, library_url, pg_server
from sqlalchemy import text

from db import repository as repo
from db import teaching
from db.codec import encode_image
from db.engine import dispose_engines, ensure_library, session_scope
from db.operator import OPERATOR

IDENTIFIERS = [
    "Doe^Janet",
    "Janet",
    "PID-7734291",
    "19650412",
    "St Elsewhere Hospital",
    "Elsewhere",
    "ACC-99812",
    "Dr^Who",
]


def identified_dicom(path: Path, pixels: np.ndarray) -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Janet", "PID-7734291", "19650412"
    ds.InstitutionName, ds.AccessionNumber, ds.ReferringPhysicianName = "St Elsewhere Hospital", "ACC-99812", "Dr^Who"
    ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "CR", "MONOCHROME2", 1
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (pixels.astype(np.uint16) * 16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_dicom_identifiers_never_reach_the_database_file(tmp_path, kermany_test_dir, trained_weights_dir):
    from core.analysis import analyze_bytes
    from core.imaging.decode import load_image
    from core.model_service import ModelService
    from core.services.library_import import import_folder, save_analysis

    gray = load_image(next((kermany_test_dir / "NORMAL").glob("*.jpeg")).read_bytes()).pixels
    folder = tmp_path / "in" / "PNEUMONIA"
    folder.mkdir(parents=True)
    dicom = identified_dicom(folder / "scan.dcm", gray)
    raw = dicom.read_bytes()
    assert all(ident.encode() in raw for ident in IDENTIFIERS[:3])  # the test file really carries them

    db_file = tmp_path / "lib.db"
    engine = ensure_library(f"sqlite:///{db_file}")
    service = ModelService(trained_weights_dir)
    summary = import_folder(engine, tmp_path / "in", service)
    assert summary.added == 1 and summary.predictions_added == 1
    other = identified_dicom(
        tmp_path / "other.dcm", np.ascontiguousarray(gray[::-1])
    )  # a second image, via the Analyze path
    saved = save_analysis(engine, OPERATOR, analyze_bytes(service, other.read_bytes()), title="upload")
    assert saved.created and saved.prediction_stored
    with session_scope(engine) as s:
        titles = list(s.scalars(text("SELECT title FROM cases")))
    assert all(t.startswith("DICOM image ") for t in titles)
    dispose_engines()  # checkpoint the WAL into the main file

    stored = b"".join(p.read_bytes() for p in tmp_path.glob("lib.db*"))
    assert len(stored) > 50_000
    for ident in IDENTIFIERS:
        for encoding in ("utf-8", "utf-16-le"):
            assert ident.encode(encoding) not in stored, f"{ident!r} ({encoding}) found in the database file"


# ---------- parallel writers ---------------------------------------------------------------

WORKERS = 4
CASES_EACH = 12


def _writer(url: str, worker: int, barrier) -> None:
    dispose_engines()  # never share a parent's pooled connections across fork
    engine = ensure_library(url)
    barrier.wait()
    for i in range(CASES_EACH):
        with session_scope(engine) as s:
            # a case of its own, plus the same shared image every worker saves at once
            own = np.full((64, 64), 0, dtype=np.uint8)
            own[0, :3] = (worker, i, 200)  # never equal to a shared image
            for pixels, title in ((own, f"w{worker}-{i}"), (np.full((64, 64), i, dtype=np.uint8), f"shared-{i}")):
                image, _ = repo.add_image(s, encode_image(pixels), "PNG")
                case, _ = repo.add_case(s, image, title, f"worker {worker}")
            repo.add_tags(s, OPERATOR, 1, [f"w{worker}-t{i}"])  # concurrent tagging of one case
            teaching.add_to_set(s, OPERATOR, 1, [case.id])
    dispose_engines()


def test_parallel_writers_never_lose_or_corrupt_a_write(library, library_url):
    with session_scope(library) as s:
        image, _ = repo.add_image(s, encode_image(np.full((64, 64), 255, dtype=np.uint8)), "PNG")
        repo.add_case(s, image, "tag target", "test")
        teaching.create_set(s, OPERATOR, "shared set")
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_writer, args=(library_url, w, barrier)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    with session_scope(library) as s:
        counts = repo.stats(s)
        assert counts["cases"] == counts["images"] == 1 + WORKERS * CASES_EACH + CASES_EACH
        tags = [t.tag for t in repo.get_case(s, 1).tags]
        assert len(tags) == WORKERS * CASES_EACH
        items = teaching.set_case_ids(s, 1)
        assert len(items) == len(set(items)) == CASES_EACH  # the shared cases, each added once
        positions = list(s.scalars(text("SELECT position FROM teaching_set_items ORDER BY position")))
        assert positions == list(range(CASES_EACH))
        if library.dialect.name == "sqlite":
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
