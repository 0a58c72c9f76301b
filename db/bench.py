"""`python -m db bench-gallery`: time the gallery's page query on a synthetic library."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from db.codec import encode_image, pack_cam
from db.engine import ensure_library, forget_engine, refresh_statistics, session_scope
from db.models import Case, CaseTag, Image, Prediction, TeachingSet, TeachingSetItem, utcnow
from db.repository import GalleryFilter, gallery_page

BENCH_MODEL = "bench-model"
TAGS = ["air bronchogram", "lobar", "viral pattern", "artefact", "marker", "rotation", "child", "classic"]
WORDS = "consolidation left right lower lobe hazy clear marker rib edge border artefact classic teaching".split()


def seed_synthetic(engine, n_cases: int, seed: int = 0) -> None:
    """n cases with thumbnails, predictions, tags, notes and one teaching set, inserted in bulk."""
    rng = random.Random(seed)
    gray = np.random.default_rng(seed).integers(0, 255, (224, 224), dtype=np.uint8)
    template = encode_image(gray)
    cam = pack_cam(np.random.default_rng(seed).random((7, 7)))
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(
            insert(Image),
            [
                {
                    "id": i + 1,
                    "sha256": f"{i:064x}",
                    "width": 224,
                    "height": 224,
                    "source_format": "PNG",
                    "png": template.png,
                    "thumbnail": template.thumbnail,
                    "created_at": now,
                }
                for i in range(n_cases)
            ],
        )
        cases, preds, tags, notes_rng = [], [], [], rng
        for i in range(n_cases):
            truth = rng.choice(["NORMAL", "PNEUMONIA", None])
            p = rng.random()
            cases.append(
                {
                    "id": i + 1,
                    "image_id": i + 1,
                    "title": f"case {i:05d}",
                    "source": "bench",
                    "truth_label": truth,
                    "truth_set_by": "bench" if truth else None,
                    "truth_set_at": now if truth else None,
                    "notes": " ".join(notes_rng.choices(WORDS, k=6)),
                    "difficulty": rng.choice(["easy", "medium", "hard", None]),
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            preds.append(
                {
                    "image_id": i + 1,
                    "model_version": BENCH_MODEL,
                    "probability": p,
                    "label": "PNEUMONIA" if p >= 0.5 else "NORMAL",
                    "threshold": 0.5,
                    "uncertainty": None,
                    "cam": cam,
                    "cam_height": 7,
                    "cam_width": 7,
                    "cam_target": "PNEUMONIA",
                    "cam_summary": {"peak": None},
                    "created_at": now,
                }
            )
            tags += [{"case_id": i + 1, "tag": t} for t in rng.sample(TAGS, rng.randint(0, 3))]
        session.execute(insert(Case), cases)
        session.execute(insert(Prediction), preds)
        if tags:
            session.execute(insert(CaseTag), tags)
        session.execute(
            insert(TeachingSet),
            [
                {
                    "id": 1,
                    "name": "bench set",
                    "description": "",
                    "published": True,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        members = rng.sample(range(1, n_cases + 1), min(200, n_cases))
        session.execute(
            insert(TeachingSetItem), [{"set_id": 1, "case_id": c, "position": k} for k, c in enumerate(members)]
        )


SCENARIOS = {
    "first page, newest": (GalleryFilter(), "newest", 1),
    "last page, newest": (GalleryFilter(), "newest", 10_000),
    "false negatives, P 0.2-0.5, by probability": (
        GalleryFilter(outcome="false_negative", probability=(0.2, 0.5)),
        "probability_desc",
        1,
    ),
    "uncertain + tag": (GalleryFilter(uncertain=True, tags=["lobar"]), "uncertain", 1),
    "text in notes, page 3": (GalleryFilter(text="marker"), "title", 3),
    "teaching set order": (GalleryFilter(set_id=1), "set_order", 1),
}


def run_bench(n_cases: int = 10_000, repeats: int = 7, url: str | None = None, per_page: int = 24) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = ensure_library(url)
        t0 = time.perf_counter()
        seed_synthetic(engine, n_cases)
        seeded = time.perf_counter() - t0
        refresh_statistics(engine)  # as every import does, and autovacuum would
        report: dict[str, Any] = {
            "cases": n_cases,
            "backend": engine.dialect.name,
            "per_page": per_page,
            "seed_seconds": round(seeded, 2),
            "query_ms_median": {},
            "query_ms_max": {},
        }
        for name, (filters, sort, page) in SCENARIOS.items():
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                with session_scope(engine) as session:
                    result = gallery_page(session, filters, BENCH_MODEL, sort=sort, page=page, per_page=per_page)
                times.append((time.perf_counter() - t) * 1000)
            assert result.rows or result.total == 0
            report["query_ms_median"][name] = round(statistics.median(times), 1)
            report["query_ms_max"][name] = round(max(times), 1)
        report["worst_median_ms"] = max(report["query_ms_median"].values())
        forget_engine(url)
    return report
