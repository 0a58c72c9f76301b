"""Filling the case library: folder imports, the demo seed, saved analyses, late predictions.

This is where inference meets the database: core.models.classifier/core.analysis compute, db.repository
stores. The db package itself never imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import numpy as np

from core import settings
from core.analysis import Analysis, analyze_batch
from core.explain.limits import pack_mask, plan_probe, run_probes
from core.imaging.decode import MAX_FILE_BYTES, ImageRejected, XRayImage, load_image
from core.imaging.preprocess import resize_gray
from core.model_service import ModelService
from core.vocabulary import CLASS_NAMES, N_
from db import repository
from db.codec import EncodedImage, decode_png, encode_image
from db.engine import refresh_statistics, session_scope
from db.errors import NotFound
from db.models import Image, Prediction
from db.permissions import Actor, require

LABEL_FOLDERS = {name.lower(): name for name in CLASS_NAMES}  # NORMAL/ and PNEUMONIA/ give ground truth
DEMO_META_KEY = "demo_seed"
DEMO_SOURCE = "demo: kermany224/test"
DEFAULT_BATCH = 32


def demo_folder() -> Path:
    """kermany224/test (held-out cases with ground truth); CXR_DEMO_DIR points elsewhere (tests)."""
    return settings.demo_dir()


def seeding_wanted() -> bool:
    """The demo seed runs unless CXR_SEED_DEMO is 0/false/no/off."""
    return settings.seed_demo()


@dataclass(frozen=True)
class ImportFile:
    path: Path
    truth: str | None


@dataclass
class ImportSummary:
    total: int = 0
    added: int = 0
    already_present: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    predictions_added: int = 0
    model_version: str | None = None
    model_trained: bool = False
    ignored_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.added + self.already_present + len(self.refused)

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[ImportSummary], None]


def list_import_files(folder: Path) -> tuple[list[ImportFile], list[str]]:
    """Files to import (sorted) and sub-folders that are ignored because they name no label."""
    folder = Path(folder)
    files, ignored = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            label = LABEL_FOLDERS.get(entry.name.lower())
            if label is None:
                ignored.append(entry.name)
                continue
            files += [
                ImportFile(p, label) for p in sorted(entry.iterdir()) if p.is_file() and not p.name.startswith(".")
            ]
        elif entry.is_file():
            files.append(ImportFile(entry, None))
    return files, ignored


def interleave_labels(files: list[ImportFile]) -> list[ImportFile]:
    """NORMAL, PNEUMONIA, NORMAL, … (then loose files), so that any first few cases show both classes."""
    groups: dict[str | None, list[ImportFile]] = {}
    for item in files:
        groups.setdefault(item.truth, []).append(item)
    labelled = [groups.get(name, []) for name in CLASS_NAMES]
    mixed = [item for row in zip_longest(*labelled) for item in row if item is not None]
    return mixed + groups.get(None, [])


def batch_bounds(n: int, batch_size: int, first_batches: Sequence[int] = ()) -> Iterator[tuple[int, int]]:
    """(start, stop) of each batch: the sizes in `first_batches`, then `batch_size` until `n`."""
    sizes = iter(first_batches)
    start = 0
    while start < n:
        size = max(1, next(sizes, batch_size))
        yield start, min(start + size, n)
        start += size


def predict_batch(
    service: ModelService, grays: list[np.ndarray], with_limits: bool = True
) -> list[repository.PredictionRecord]:
    """Stored predictions for many library images: the analysis pipeline in one batch, probe included
    unless `with_limits=False` (then `backfill_limits` adds it later)."""
    # Library images are already validated grayscale: colourfulness 0.
    images = [XRayImage(pixels=g, source_format="PNG", colourfulness=0.0) for g in grays]
    return [record_from_analysis(a) for a in analyze_batch(service, images, with_limits=with_limits)]


def record_from_analysis(analysis: Analysis) -> repository.PredictionRecord:
    return repository.PredictionRecord(
        model_version=analysis.model_version,
        probability=analysis.probability,
        label=analysis.label,
        threshold=analysis.threshold,
        cam=analysis.cam,
        cam_target=analysis.cam_target,
        cam_summary=analysis.cam_summary,
        uncertainty=analysis.uncertainty.score if analysis.uncertainty else None,
        guard=analysis.guard.to_dict() if analysis.guard else None,
        limits=analysis.limits.metrics if analysis.limits else None,
        lung_mask=pack_mask(analysis.limits.lung_mask) if analysis.limits else None,
    )


def case_title(path: Path, source_format: str, sha256: str) -> str:
    # DICOM file names are often UIDs or patient names; only ordinary image files keep theirs.
    return f"DICOM image {sha256[:8]}" if source_format == "DICOM" else path.stem


def _decode(item: ImportFile) -> tuple[np.ndarray, str]:
    try:
        size = item.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageRejected(f"{size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
        data = item.path.read_bytes()
    except OSError as exc:
        raise ImageRejected(f"cannot be read ({exc.strerror or exc}).") from None
    image = load_image(data)
    return image.pixels, image.source_format


def import_folder(
    engine,
    folder: Path,
    service: ModelService | None,
    batch_size: int = DEFAULT_BATCH,
    source: str | None = None,
    progress: Progress | None = None,
    first_batches: Sequence[int] = (),
    mixed: bool = False,
    with_limits: bool = True,
) -> ImportSummary:
    """Import every image under folder (NORMAL/, PNEUMONIA/, loose files). Safe to rerun or interrupt.

    Each batch is decoded and predicted first, then written in one transaction: an interrupted
    import leaves whole cases only, and a rerun skips what is already there. `first_batches` are
    smaller leading batches (the first cases arrive sooner); `mixed` alternates the labels.
    """
    started = time.perf_counter()
    files, ignored = list_import_files(folder)
    if mixed:
        files = interleave_labels(files)
    # Predictions are stored only from a trained model; `model` is None otherwise.
    model = service if service is not None and service.info.trained else None
    trained = model is not None
    summary = ImportSummary(
        total=len(files),
        model_version=model.version if model is not None else None,
        model_trained=trained,
        ignored_folders=ignored,
    )
    source = (source or f"import: {Path(folder).resolve().name}")[:200]
    if progress:
        progress(summary)
    for start, stop in batch_bounds(len(files), batch_size, first_batches):
        batch: list[tuple[ImportFile, EncodedImage, str, np.ndarray]] = []
        for item in files[start:stop]:
            try:
                pixels, fmt = _decode(item)
            except ImageRejected as exc:
                summary.refused.append((str(item.path), str(exc)))
                continue
            batch.append((item, encode_image(pixels), fmt, pixels))

        with session_scope(engine) as session:
            present = repository.known_hashes(session, [e.sha256 for _, e, _, _ in batch])
            missing_prediction = set()
            if model is not None:
                missing_prediction = _hashes_without_prediction(
                    session, [e.sha256 for _, e, _, _ in batch], model.version
                )
        # Inference outside the transaction: the write lock is held only while writing.
        need: dict[str, np.ndarray] = {}
        if model is not None:
            for _item, encoded, _fmt, pixels in batch:
                if encoded.sha256 not in present or encoded.sha256 in missing_prediction:
                    need.setdefault(encoded.sha256, pixels)
        records = (
            dict(zip(need, predict_batch(model, list(need.values()), with_limits)))
            if model is not None and need
            else {}
        )

        with session_scope(engine) as session:
            added = present_now = predictions = 0
            for item, encoded, fmt, _ in batch:
                image, _ = repository.add_image(session, encoded, fmt)
                _, created = repository.add_case(
                    session,
                    image,
                    case_title(item.path, fmt, encoded.sha256),
                    source,
                    truth_label=item.truth,
                    truth_set_by=f"folder import ({item.truth}/)" if item.truth else None,
                )
                added, present_now = added + created, present_now + (not created)
                record = records.pop(encoded.sha256, None)
                if record is not None:
                    predictions += repository.add_prediction(session, image.id, record)[1]
        summary.added += added
        summary.already_present += present_now
        summary.predictions_added += predictions
        summary.seconds = time.perf_counter() - started
        if progress:
            progress(summary)
    if summary.added:
        refresh_statistics(engine)
    summary.seconds = time.perf_counter() - started
    return summary


def _hashes_without_prediction(session, hashes: list[str], model_version: str) -> set[str]:
    from sqlalchemy import select

    if not hashes:
        return set()
    have = set(
        session.scalars(
            select(Image.sha256)
            .join(Prediction, Prediction.image_id == Image.id)
            .where(Image.sha256.in_(hashes), Prediction.model_version == model_version)
        )
    )
    return set(hashes) - have


def predict_missing(
    engine,
    actor: Actor,
    service: ModelService,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Add the installed model's predictions to every case that lacks one; returns how many were added.

    An instructor's (Case Gallery) or the operator's; the role is checked again with each batch's write."""
    with session_scope(engine) as session:
        require(session, actor, "compute_predictions")
    if not service.info.trained:
        return 0
    with session_scope(engine) as session:
        todo = repository.images_without_prediction(session, service.version)
    done = 0
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        ids = todo[start : start + batch_size]
        with session_scope(engine) as session:
            pngs = [repository.get_image(session, i).png for i in ids]
        records = predict_batch(service, [decode_png(p) for p in pngs])
        with session_scope(engine) as session:
            require(session, actor, "compute_predictions")
            for image_id, record in zip(ids, records):
                done += repository.add_prediction(session, image_id, record)[1]
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return done


def backfill_limits(
    engine,
    actor: Actor,
    service: ModelService,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """Add the limits probe to this model's stored predictions that lack it (made before the segmenter
    existed, or imported with `with_limits=False`): a batch of probes shares its forward passes.

    A reviewer's (Model Limits) or the operator's; the role is checked again with each batch's write."""
    with session_scope(engine) as session:
        require(session, actor, "compute_limits")
    segmenter = service.segmenter
    if not service.info.trained or segmenter is None:
        return 0
    with session_scope(engine) as session:
        todo = [p.prediction_id for p in repository.predictions_without_limits(session, service.version)]
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        ids = todo[start : start + batch_size]
        plans = []
        with session_scope(engine) as session:
            for prediction_id in ids:
                prediction = session.get(Prediction, prediction_id)
                if prediction is None:
                    raise NotFound(
                        N_("Prediction {prediction_id} is not in the library (it may have been deleted)."),
                        prediction_id=prediction_id,
                    )
                gray = resize_gray(decode_png(repository.get_image(session, prediction.image_id).png))
                cam = repository.prediction_cam(prediction)
                plans.append(
                    plan_probe(
                        segmenter, gray, cam, prediction.probability, prediction.cam_target, service.limit_thresholds
                    )
                )
        probes = run_probes(service, plans)
        with session_scope(engine) as session:
            require(session, actor, "compute_limits")
            for prediction_id, probe in zip(ids, probes):
                repository.set_prediction_limits(session, prediction_id, probe.metrics, pack_mask(probe.lung_mask))
        if progress:
            progress(start + len(ids), len(todo))
    return len(todo)


@dataclass(frozen=True)
class SavedCase:
    case_id: int
    created: bool
    prediction_stored: bool


def save_analysis(
    engine, actor: Actor, analysis: Analysis, title: str, source: str = "analyze upload", reports: Sequence = ()
) -> SavedCase:
    """Store an analysed upload: one case per image (a repeat links to the existing case), with its
    prediction and the `reports` written on it before the save (ReportRecords kept in the session),
    all in one transaction: a save killed half-way leaves nothing of it. An instructor's save only."""
    from core.services.report_store import add_session_reports

    encoded = encode_image(analysis.image.pixels)
    with session_scope(engine) as session:
        require(session, actor, "save_case")
        image, _ = repository.add_image(session, encoded, analysis.image.source_format)
        if analysis.image.source_format == "DICOM":
            title = case_title(Path("upload.dcm"), "DICOM", encoded.sha256)
        case, created = repository.add_case(session, image, title, source)
        stored = False
        if analysis.model_trained:
            repository.add_prediction(session, image.id, record_from_analysis(analysis))
            stored = True
        if reports:
            session.flush()
            add_session_reports(session, reports)
        return SavedCase(case.id, created, stored)
