"""How a probability is written for people: never 100 % or 0 %.

A calibrated model's output is never certainty, and a page that prints "100.0%" teaches that it
is. Inside (0.1 %, 99.9 %) one decimal is shown; beyond, "> 99.9%" or "< 0.1%". Numbers in JSON
keep four decimals, clamped to the same open interval.
"""

from __future__ import annotations

LOW, HIGH = 0.001, 0.999
JSON_DECIMALS = 4


def percent(p: float, decimals: int = 1) -> str:
    """0.87345 → "87.3%"; 0.99996 → "> 99.9%"; 0.00002 → "< 0.1%"."""
    p = float(p)
    if p > HIGH or round(p * 100, decimals) >= 100:
        return "> 99.9%"
    if p < LOW or round(p * 100, decimals) <= 0:
        return "< 0.1%"
    return f"{p * 100:.{decimals}f}%"


def json_probability(p: float) -> float:
    """A probability for JSON: four decimals, never exactly 0 or 1."""
    step = 10.0**-JSON_DECIMALS
    return round(min(max(float(p), step), 1.0 - step), JSON_DECIMALS)
