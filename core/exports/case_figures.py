"""A case's figures as JSON: what the model said, where its map lay and the limits figures, with the notice."""

from __future__ import annotations

import json

import numpy as np

from core.formatting import json_probability, percent

FIGURES_VERSION = 1


def _plain(value):
    """numpy scalars and arrays → JSON values (rounded: figures, not bit patterns)."""
    if isinstance(value, np.ndarray):
        return np.round(value.astype(np.float64), 4).tolist()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, bytes):  # packed masks and the like: pictures, not figures
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def case_figures(
    *,
    notice: str,
    source: dict,
    label: str | None,
    probability: float | None,
    model_version: str | None,
    cam_target: str | None = None,
    cam: np.ndarray | None = None,
    cam_summary: dict | None = None,
    limits: dict | None = None,
    truth_label: str | None = None,
) -> dict:
    """The figures of one case (an upload or a library case); `source` says which (e.g. {"case_id": 7})."""
    return {
        "figures_version": FIGURES_VERSION,
        "notice": notice,
        "source": _plain(source),
        "truth_label": truth_label,
        "prediction": None
        if label is None or probability is None
        else {
            "label": label,
            "probability_pneumonia": json_probability(probability),
            "probability_pneumonia_text": percent(probability),
            "model_version": model_version,
            "cam_target": cam_target,
        },
        "cam": None if cam is None else _plain(np.asarray(cam)),
        "cam_summary": _plain(cam_summary) if cam_summary is not None else None,
        "limits": _plain(limits) if limits is not None else None,
    }


def figures_json(figures: dict) -> bytes:
    return json.dumps(figures, ensure_ascii=False, indent=2, sort_keys=True).encode()
