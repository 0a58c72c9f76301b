"""One call for the maps the trust tests compare: registry methods (core.explain.methods) and controls.

Registry methods run through `explain` (their library calls, private copies, parameters); a
control (controls.py) is a plain function of the input and ignores the model.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torchvision.models import ResNet

from core.explain.methods import METHODS, MethodResult, explain
from core.explain.trust.controls import CONTROLS


def known_names() -> list[str]:
    return [*METHODS, *CONTROLS]


def trust_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """'all' (every registry method, then every control), 'a,b' or a list → names; unknown ones raise."""
    if spec == "all":
        return known_names()
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in names if n not in METHODS and n not in CONTROLS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(known_names())}")
    if not names:
        raise ValueError("no method named")
    return names


def is_slow(name: str) -> bool:
    return name in METHODS and METHODS[name].slow


def family(name: str) -> str:
    return METHODS[name].family if name in METHODS else "control"


def compute_maps(
    model: ResNet, x: torch.Tensor, target: int, names: list[str], params: dict | None = None
) -> dict[str, MethodResult]:
    """Maps of `names` (registry methods and controls) for one (1, C, H, W) input, in that order.

    `params`: {method: {param: value}} overrides for registry methods (controls take none).
    """
    params = params or {}
    registry = [n for n in names if n in METHODS]
    results = explain(model, x, target, registry, {n: params[n] for n in registry if n in params}) if registry else {}
    out: dict[str, MethodResult] = {}
    for name in names:
        if name in CONTROLS:
            control = CONTROLS[name]
            t0 = time.perf_counter()
            heat = np.asarray(control.compute(x), dtype=np.float32)
            out[name] = MethodResult(name, heat, round((time.perf_counter() - t0) * 1000, 1), {}, control.signed)
        else:
            out[name] = results[name]
    return out
