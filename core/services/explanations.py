"""Explanation maps of one X-ray: read the stored ones, compute the missing ones once, store them.

A library image's maps are kept in the library under (image, model version, method, target class,
parameters) and read back by every user; an upload that is not in the library keeps its maps in the
caller's `cache` (the page's session) and nothing is written. Two sessions asking for the same
missing maps at once compute them once: the second waits for the first and reads its rows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.analysis import Analysis, heatmap_faithfulness
from core.explain.limits import unpack_mask
from core.explain.methods import METHODS, explain, summarise
from core.imaging.preprocess import resize_gray, to_model_input
from core.model_service import ModelService
from core.vocabulary import CLASS_NAMES, pixel_hash
from db import repository as repo
from db.codec import decode_png
from db.engine import session_scope
from db.explanations import params_key, store_map, stored_maps
from db.permissions import Actor, require

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Subject:
    """What is explained: the picture on the model's grid and what the lung and marker figures need."""

    gray224: np.ndarray  # (224, 224) uint8, what the model sees
    pixel_hash: str  # of the picture as uploaded or stored
    predicted: str  # the model's label for it (the default target)
    lung_mask: np.ndarray | None  # (224, 224) bool, None without a lung segmenter
    markers: list[list[int]]  # burned-in marker boxes on the 224 grid
    image_id: int | None = None  # the library image, or None for an upload that is not in the library
    title: str = ""


@dataclass(frozen=True)
class ExplainedMap:
    method: str
    target: str
    map: np.ndarray  # (224, 224) float32
    milliseconds: float  # what computing it cost (when it was computed, for a stored map)
    params: dict
    signed: bool
    summary: dict  # peak and region shares (core.explain.methods.summarise)
    stored: bool  # read back from the library rather than computed in this call


def subject_from_analysis(analysis: Analysis, engine: Engine | None = None) -> Subject:
    """An analysed upload; when the same pixels are in the library, its maps are the library's."""
    gray224 = analysis.model_input if analysis.model_input is not None else resize_gray(analysis.image.pixels)
    digest = pixel_hash(analysis.image.pixels)
    image_id = None
    if engine is not None:
        with session_scope(engine) as s:
            case = repo.case_for_sha(s, digest)
            image_id = case.image_id if case is not None else None
    probe = analysis.limits
    return Subject(
        gray224=gray224,
        pixel_hash=digest,
        predicted=analysis.label,
        lung_mask=probe.lung_mask if probe is not None else None,
        markers=[list(map(int, b)) for b in (probe.metrics.get("markers") or [])] if probe is not None else [],
        image_id=image_id,
    )


def subject_from_case(session: Session, service: ModelService, case_id: int) -> Subject:
    """A library case, with the lung mask and markers stored with the installed model's prediction."""
    case = repo.get_case(session, case_id)
    gray = decode_png(case.image.png)
    pred = repo.case_prediction(session, case, service.version)
    if pred is None:  # no stored prediction for this model yet: ask the model now (one forward pass)
        probability = float(service.predict_grays([gray])[0])
        predicted = service.label_for(probability)
    else:
        predicted = pred.label
    limits = (pred.limits or {}) if pred is not None else {}
    return Subject(
        gray224=resize_gray(gray),
        pixel_hash=case.image.sha256,
        predicted=predicted,
        lung_mask=unpack_mask(pred.lung_mask) if pred is not None and pred.lung_mask else None,
        markers=[list(map(int, b)) for b in limits.get("markers") or []],
        image_id=case.image_id,
        title=f"Case #{case.id}: {case.title}",
    )


def method_params(methods: list[str]) -> dict[str, dict]:
    """Each method's parameters as stored: its defaults, through JSON (so the key matches what is read back)."""
    return {m: json.loads(json.dumps(METHODS[m].params())) for m in methods}


_key_locks: dict[tuple, threading.Lock] = {}
_key_locks_guard = threading.Lock()


def _lock_for(key: tuple) -> threading.Lock:
    with _key_locks_guard:
        return _key_locks.setdefault(key, threading.Lock())


def _explained(subject: Subject, method: str, target: str, heat, ms: float, params: dict, stored: bool):
    signed = METHODS[method].signed
    summary = summarise(heat, signed, subject.lung_mask, subject.markers)
    return ExplainedMap(method, target, np.asarray(heat, np.float32), float(ms), params, signed, summary, stored)


def stored_explanations(
    engine: Engine | None, service: ModelService, subject: Subject, target: str, methods: list[str], cache: dict
) -> dict[str, ExplainedMap]:
    """The maps already there (library or `cache`); computes nothing."""
    wanted = method_params(methods)
    found: dict[str, ExplainedMap] = {}
    for method, params in wanted.items():
        hit = cache.get((subject.pixel_hash, service.version, target, method, params_key(params)))
        if hit is not None:
            found[method] = hit
    missing = {m: p for m, p in wanted.items() if m not in found}
    if engine is not None and subject.image_id is not None and missing:
        with session_scope(engine) as s:
            rows = stored_maps(s, subject.image_id, service.version, target, missing)
        for method, row in rows.items():
            found[method] = _explained(subject, method, target, row.map, row.milliseconds, row.params, True)
            cache[(subject.pixel_hash, service.version, target, method, params_key(row.params))] = found[method]
    return found


def compute_explanations(
    engine: Engine | None,
    actor: Actor | None,
    service: ModelService,
    subject: Subject,
    target: str,
    methods: list[str],
    cache: dict,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, ExplainedMap]:
    """Every requested map: stored ones read back, the others computed (in one `explain` call) and stored.

    They are stored for a library image as `actor` (any active, signed-in user, or the operator); anyone
    else is refused before the computing starts."""
    if target not in CLASS_NAMES:
        raise ValueError(f"target must be one of {CLASS_NAMES}, not {target!r}")
    key = (subject.pixel_hash, service.version, target)
    with _lock_for(key):  # a second session asking for the same maps waits, then finds them stored
        found = stored_explanations(engine, service, subject, target, methods, cache)
        missing = [m for m in methods if m not in found]
        if not missing:
            if progress:
                progress(1.0)
            return found
        image_id = subject.image_id
        keep = engine if image_id is not None and service.info.trained else None
        if keep is not None:
            with session_scope(keep) as s:
                require(s, actor, "store_explanation")
        results = explain(
            service.model,
            to_model_input(subject.gray224),
            CLASS_NAMES.index(target),
            missing,
            progress=progress,
            cancel=cancel,
        )
        params = method_params(missing)
        for method, result in results.items():
            found[method] = _explained(subject, method, target, result.map, result.ms, params[method], False)
            cache[(subject.pixel_hash, service.version, target, method, params_key(params[method]))] = found[method]
        if keep is not None and image_id is not None:
            with session_scope(keep) as s:
                require(s, actor, "store_explanation")
                for method, result in results.items():
                    store_map(s, image_id, service.version, method, target, params[method], result.map, result.ms)
    return found


def analysis_faithfulness(service: ModelService, analysis: Analysis) -> dict:
    """The Analyze page's faithfulness curves of an upload (core.analysis.heatmap_faithfulness); nothing stored."""
    return heatmap_faithfulness(service, analysis)


def method_trust(service: ModelService, subject: Subject, method: str, target: str) -> dict:
    """One method's trust figures on this image (sanity check, faithfulness, stability, lungs): seconds."""
    from core.explain.trust import trust_figures

    x = to_model_input(subject.gray224)
    return trust_figures(service.model, x, CLASS_NAMES.index(target), method, subject.lung_mask)


def scrambled_model_maps(service: ModelService, subject: Subject, method: str, target: str):
    """The method's map from the trained model and after each step of the randomisation cascade."""
    from core.explain.trust import scrambled_maps

    return scrambled_maps(service.model, to_model_input(subject.gray224), CLASS_NAMES.index(target), method)


def trust_summary(service: ModelService) -> dict | None:
    """The committed library-wide trust table (weights/xai_eval.json), marked stale for other weights."""
    from core.explain.trust import load_xai_eval

    return load_xai_eval(service.weights_dir, service.version)
