"""Stored explanation maps: read back by their full key, written once (a second writer finds the first's row)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.codec import pack_cam, unpack_cam
from db.models import ExplanationMap, utcnow


def params_key(params: dict) -> str:
    """The parameters' identity: sha256 of their canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class StoredMap:
    method: str
    target: str
    params: dict
    map: np.ndarray  # float32 (h, w), the values as computed (to float16 precision relative to the largest)
    milliseconds: float
    created_at: datetime


def _stored(row: ExplanationMap) -> StoredMap:
    values = unpack_cam(row.map, row.height, row.width) * np.float32(row.scale)
    return StoredMap(row.method, row.target, dict(row.params), values, row.milliseconds, row.created_at)


def stored_maps(
    session: Session, image_id: int, model_version: str, target: str, wanted: dict[str, dict]
) -> dict[str, StoredMap]:
    """The stored maps among `wanted` (method → parameters); a method stored with other parameters is not one."""
    if not wanted:
        return {}
    rows = session.scalars(
        select(ExplanationMap).where(
            ExplanationMap.image_id == image_id,
            ExplanationMap.model_version == model_version,
            ExplanationMap.target == target,
            ExplanationMap.method.in_(list(wanted)),
        )
    )
    keys = {method: params_key(params) for method, params in wanted.items()}
    return {row.method: _stored(row) for row in rows if keys[row.method] == row.params_key}


def store_map(
    session: Session,
    image_id: int,
    model_version: str,
    method: str,
    target: str,
    params: dict,
    values: np.ndarray,
    milliseconds: float,
) -> bool:
    """Store one map; False when the same key is stored already (then nothing changes)."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or not np.isfinite(values).all():
        raise ValueError(f"an explanation map is a finite (h, w) array, got {values.shape}")
    scale = float(np.abs(values).max()) or 1.0
    row = ExplanationMap(
        image_id=image_id,
        model_version=model_version,
        method=method,
        target=target,
        params_key=params_key(params),
        params=params,
        map=pack_cam(values / scale),
        height=values.shape[0],
        width=values.shape[1],
        scale=scale,
        milliseconds=float(milliseconds),
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():  # a concurrent writer of the same key wins; ours is dropped
            session.add(row)
    except IntegrityError:
        return False
    return True
