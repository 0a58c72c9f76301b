"""Probabilities are never written as 100 % or 0 %."""

import pytest

from core.formatting import json_probability, number, percent, share


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


@pytest.mark.parametrize("language", [None, "en", "ko"])
def test_figures_that_round_to_zero_carry_no_sign(language):
    from core.formatting import signed_number, signed_share

    assert number(-0.0001, 2, language) == "0.00" and number(-0.004, 2, language) == "0.00"
    assert share(-0.0001, 1, language) == "0.0%" and share(-0.00001, 0, language) == "0%"
    assert signed_share(-0.0004, 1, language) == "0.0%" and signed_number(-0.001, 2, language) == "0.00"
    assert signed_share(0.0123, 1, language) == "+1.2%" and signed_share(-0.11, 1, language) == "-11.0%"
    assert signed_number(0.4, 2, language) == "+0.40" and signed_number(-0.4, 2, language) == "-0.40"
