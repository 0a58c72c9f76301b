"""How numbers and dates are written for people: probabilities never 100 % or 0 %; numbers and dates per locale.

A calibrated model's output is never certainty, and a page that prints "100.0%" teaches that it
is. Inside (0.1 %, 99.9 %) one decimal is shown; beyond, "> 99.9%" or "< 0.1%". Numbers in JSON
keep four decimals, clamped to the same open interval.

With a `language` ("en", "ko", any Babel locale) the number is written the locale's way by Babel
(decimal mark, grouping, where the percent sign goes); without one, the fixed English form that the
CLI, the JSON and the reports use.

A figure that rounds to zero is written without a sign: never "-0.0%" or "-0.00". `signed_share` and
`signed_number` write a change with its sign ("+1.2%", "-0.40", "0.0%").
"""

from __future__ import annotations

from copy import copy
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

LOW, HIGH = 0.001, 0.999
JSON_DECIMALS = 4


def _percent_in(language: str, x: float, decimals: int) -> str:
    """The locale's own percent pattern (where the sign goes, spacing) with exactly `decimals` decimals."""
    locale = Locale.parse(language)
    pattern = copy(locale.percent_formats[None])
    pattern.frac_prec = (decimals, decimals)
    return pattern.apply(x, locale)


def _rounded(x: float, decimals: int) -> float:
    """`x` rounded as it will be shown, with -0.0 turned into 0.0 (IEEE: -0.0 + 0.0 is +0.0)."""
    return round(float(x), decimals) + 0.0


def share(x: float, decimals: int = 1, language: str | None = None) -> str:
    """A share that may be 0 % or 100 % (lung share, accuracy): 0.4321 → "43.2%"."""
    x = _rounded(float(x) * 100, decimals) / 100
    if language is None:
        return f"{x * 100:.{decimals}f}%"
    return _percent_in(language, x, decimals)


def _with_sign(x: float, text: str) -> str:
    return text if x == 0 else ("+" if x > 0 else "-") + text


def signed_share(x: float, decimals: int = 1, language: str | None = None) -> str:
    """A change of a share or probability, in percentage points of 100 %: 0.0123 → "+1.2%", -0.0001 → "0.0%"."""
    x = _rounded(float(x) * 100, decimals) / 100
    return _with_sign(x, share(abs(x), decimals, language))


def signed_number(x: float, decimals: int = 2, language: str | None = None) -> str:
    """A signed plain number: 0.4 → "+0.40", -0.004 → "0.00"."""
    x = _rounded(x, decimals)
    return _with_sign(x, number(abs(x), decimals, language))


def percent(p: float, decimals: int = 1, language: str | None = None) -> str:
    """A probability: 0.87345 → "87.3%"; 0.99996 → "> 99.9%"; 0.00002 → "< 0.1%"."""
    p = float(p)
    if p > HIGH or round(p * 100, decimals) >= 100:
        return "> " + share(HIGH, 1, language)
    if p < LOW or round(p * 100, decimals) <= 0:
        return "< " + share(LOW, 1, language)
    return share(p, decimals, language)


def number(x: float, decimals: int = 2, language: str | None = None) -> str:
    """A plain number with exactly `decimals` decimals: 1234.5 → "1,234.50" (en)."""
    x = _rounded(x, decimals)
    if language is None:
        return f"{float(x):,.{decimals}f}"
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(float(x), pattern, locale=language)


def date_text(moment: date | datetime, language: str = "en", format: str = "medium") -> str:
    """A date the locale's way: 2026-03-05 → "Mar 5, 2026" (en), "2026. 3. 5." (ko)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format=format, locale=language)


def datetime_text(moment: datetime, language: str = "en", format: str = "medium") -> str:
    """A date and time the locale's way (in the moment's own time zone)."""
    return format_datetime(moment, format=format, locale=language)


def json_probability(p: float) -> float:
    """A probability for JSON: four decimals, never exactly 0 or 1."""
    step = 10.0**-JSON_DECIMALS
    return round(min(max(float(p), step), 1.0 - step), JSON_DECIMALS)
