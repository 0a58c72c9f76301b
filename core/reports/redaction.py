"""Keeping the API key out of logs, exception text, stored records and exports.

The key lives in a `Secret` whose repr is masked; every string that may reach a user, a log or
the database goes through `redact`, which removes each key seen in this process and anything
shaped like a Google API key.
"""

from __future__ import annotations

import logging
import re
import threading

_KNOWN: set[str] = set()
_LOCK = threading.Lock()
GOOGLE_KEY_SHAPE = re.compile(r"AIza[0-9A-Za-z_\-]{20,}")
MASK = "[redacted]"
# Loggers that may carry request or error text: the SDK's (tenacity logs each retry's error
# there), httpx's request lines, and ours.
_LOGGER_PREFIXES = ("google_genai", "httpx", "httpcore", "core.reports")


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        remember(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a cache, session file or export
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def remember(value: str) -> None:
    if value and len(value) >= 6:  # a very short "key" would redact ordinary words
        with _LOCK:
            _KNOWN.add(value)
        install_log_filter()


def redact(text: object) -> str:
    text = str(text)
    with _LOCK:
        known = sorted(_KNOWN, key=len, reverse=True)
    for value in known:
        text = text.replace(value, MASK)
    return GOOGLE_KEY_SHAPE.sub(MASK, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Attach the filter to every logger that exists now under the prefixes (idempotent).

    A logger filter sees only records created by that very logger, so each one gets it.
    """
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith(_LOGGER_PREFIXES)]
    for name in set(names) | set(_LOGGER_PREFIXES) | {"google_genai._api_client", "google_genai.models"}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
