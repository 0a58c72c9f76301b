"""Probabilities are never written as 100 % or 0 %."""

import pytest

from core.formatting import json_probability, percent


@pytest.mark.parametrize(
    "p, text",
    [
        (0.87345, "87.3%"),
        (0.5, "50.0%"),
        (0.999, "99.9%"),
        (0.9994, "> 99.9%"),
        (0.9989, "99.9%"),
        (0.99951, "> 99.9%"),
        (0.99999999, "> 99.9%"),
        (1.0, "> 99.9%"),
        (0.001, "0.1%"),
        (0.00049, "< 0.1%"),
        (0.0, "< 0.1%"),
        (1e-12, "< 0.1%"),
    ],
)
def test_percent_never_says_certain(p, text):
    assert percent(p) == text
    assert percent(p) not in ("100.0%", "0.0%")


@pytest.mark.parametrize("p", [0.0, 1e-9, 0.5, 0.99996, 1.0])
def test_json_probability_stays_inside_the_open_interval(p):
    assert 0.0 < json_probability(p) < 1.0
    assert json_probability(0.87345) == 0.8734 or json_probability(0.87345) == 0.8735
