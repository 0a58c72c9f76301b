"""Gemini through the official google-genai SDK: structured JSON, temperature 0, timeout, bounded retries.

Every failure becomes a `GeminiFailure` whose reason is safe to show (the key is redacted);
callers fall back to the offline template and show that reason.

One report has one deadline (CXR_GEMINI_DEADLINE_S, default 45 s) for all its attempts together:
each attempt's timeout is what remains of it, and a retry starts only if its back-off wait still
leaves time for an answer. The retries are ours rather than the SDK's (its retry options cannot see
a deadline); they retry what the SDK's default would: 408, 429 and 5xx, timeouts, lost connections.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import settings
from core.i18n import N_
from core.reports.content import ReportSections
from core.reports.facts import ReportFacts
from core.reports.prompt import build_ask_prompt, build_prompt
from core.reports.redaction import Secret, redact

logger = logging.getLogger("core.reports.gemini")

DEFAULT_MODEL = "gemini-3.5-flash"
KEY_NAMES = settings.GEMINI_KEY_NAMES
MODEL_SETTING = settings.GEMINI_MODEL
TIMEOUT_SETTING = settings.GEMINI_TIMEOUT_S
DEADLINE_SETTING = settings.GEMINI_DEADLINE_S
MIN_ATTEMPT_S = 2.0  # a retry that would have less than this left for its answer is not started
RETRY_STATUS = (408, 429, 500, 502, 503, 504)
ACCEPTED_FINISH = ("STOP", "FINISH_REASON_UNSPECIFIED")

# Each failure reason is one of these templates (stored with an offline report as its source_reason; a page
# shows it in the reader's language by matching them: core.reports.service.source_reason_in).
NO_KEY = N_("no Gemini API key is set (GEMINI_API_KEY or GOOGLE_API_KEY)")
QUOTA = N_("Gemini's rate limit or quota was exceeded (HTTP 429) on all {attempts} attempts{detail}")
KEY_REFUSED = N_("Gemini refused the API key (HTTP {code}){detail}")
UNKNOWN_MODEL = N_("Gemini does not know the model {model} (HTTP 404){detail}")
SERVER_ERROR = N_("Gemini had a server error (HTTP {code}) on all {attempts} attempts{detail}")
REJECTED = N_("Gemini rejected the request (HTTP {code}){detail}")
REPLY_NOT_JSON = N_("Gemini's reply was not valid JSON")
TIMED_OUT = N_("Gemini did not answer within {seconds} s on any of {attempts} attempts")
UNREACHABLE = N_("Gemini could not be reached ({error}) on any of {attempts} attempts")
DEADLINE = N_("Gemini did not answer within the report's {seconds} s deadline ({attempts} attempts)")
UNEXPECTED = N_("the Gemini call failed unexpectedly ({error})")
BLOCKED = N_("Gemini blocked the request (block reason {name})")
NO_CANDIDATES = N_("Gemini returned no answer (no candidates)")
INCOMPLETE = N_("Gemini stopped without a complete answer (finish reason {name})")
EMPTY = N_("Gemini returned an empty answer (finish reason {name})")
ANSWER_NOT_JSON = N_("Gemini's answer was not valid JSON")
ANSWER_NOT_REPORT = N_("Gemini's answer was not in the report's format")
REASONS = (
    NO_KEY, QUOTA, KEY_REFUSED, UNKNOWN_MODEL, SERVER_ERROR, REJECTED, REPLY_NOT_JSON, TIMED_OUT, UNREACHABLE,
    DEADLINE, UNEXPECTED, BLOCKED, NO_CANDIDATES, INCOMPLETE, EMPTY, ANSWER_NOT_JSON, ANSWER_NOT_REPORT,
)  # fmt: skip


class GeminiFailure(Exception):
    """Gemini gave no usable answer; `reason` is one line fit for the user (no key in it)."""

    def __init__(self, reason: str):
        self.reason = redact(reason)
        super().__init__(self.reason)


@dataclass(frozen=True)
class GeminiSettings:
    api_key: Secret | None
    model: str = DEFAULT_MODEL
    timeout_s: float = 30.0  # per attempt, at most (less when the deadline is nearer)
    attempts: int = 3  # including the first; retried on 408/429/5xx, timeouts and refused connections
    deadline_s: float = 45.0  # all attempts of one call together, back-off waits included
    initial_delay_s: float = 1.0
    max_delay_s: float = 8.0
    jitter_s: float = 0.5
    base_url: str | None = None  # None: the SDK's default, or GOOGLE_GEMINI_BASE_URL if set
    temperature: float = 0.0

    @property
    def online(self) -> bool:
        return self.api_key is not None

    @property
    def worst_case_s(self) -> float:
        """Upper bound of one call's wall time when every attempt times out: the deadline, or less."""
        waits = sum(self.backoff_s(i) for i in range(1, self.attempts))
        return min(self.attempts * self.timeout_s + waits, self.deadline_s)

    def backoff_s(self, failed: int, draw: float = 1.0) -> float:
        """The wait after the `failed`-th failed attempt (exponential, capped; `draw` in 0..1 scales the jitter)."""
        return min(self.initial_delay_s * 2 ** (failed - 1) + draw * self.jitter_s, self.max_delay_s)

    @classmethod
    def from_env(cls, secrets: Mapping | None = None, **overrides) -> GeminiSettings:
        """Key and model from Streamlit secrets (if given) or the environment; no key → offline."""

        def setting(name: str) -> str | None:
            value = None
            if secrets is not None:
                try:
                    value = secrets.get(name)
                except Exception:  # st.secrets raises when no secrets.toml exists
                    value = None
            return (str(value).strip() if value else None) or settings.gemini_value(name)

        key = next((v for v in map(setting, KEY_NAMES) if v), None)
        # Heterogeneous field values (and caller overrides) checked by the dataclass itself.
        values: dict[str, Any] = {
            "api_key": Secret(key) if key else None,
            "model": setting(MODEL_SETTING) or DEFAULT_MODEL,
        }
        for name, field in ((TIMEOUT_SETTING, "timeout_s"), (DEADLINE_SETTING, "deadline_s")):
            raw = setting(name)
            if raw:
                try:
                    values[field] = max(1.0, float(raw))
                except ValueError:
                    logger.warning("%s=%r is not a number; using %.0f s", name, raw, getattr(cls, field))
        values.update(overrides)
        return cls(**values)


def _client(settings: GeminiSettings, timeout_s: float):
    from google import genai
    from google.genai import types

    if settings.api_key is None:
        raise GeminiFailure(NO_KEY)
    retry = types.HttpRetryOptions(attempts=1)  # one try per client: the retries are ours (see above)
    http = types.HttpOptions(base_url=settings.base_url, timeout=max(int(timeout_s * 1000), 1), retry_options=retry)
    return genai.Client(api_key=settings.api_key.reveal(), vertexai=False, http_options=http)


def _retryable(exc: Exception) -> bool:
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        return exc.code in RETRY_STATUS
    lineage = {cls.__name__ for cls in type(exc).__mro__}
    return bool(lineage & {"TimeoutException", "TransportError", "HTTPError"})


def _explain(exc: Exception, settings: GeminiSettings, attempts: int | None = None) -> str:
    """One user-facing line for an exception from the SDK or httpx; the key never survives `redact`."""
    from google.genai import errors

    attempts = attempts or settings.attempts
    if isinstance(exc, errors.APIError):
        detail = redact(exc.message or exc.status or "")[:160]
        detail = f": {detail}" if detail else ""  # the server's own words, as it sent them
        if exc.code == 429:
            return QUOTA.format(attempts=attempts, detail=detail)
        if exc.code in (401, 403):
            return KEY_REFUSED.format(code=exc.code, detail=detail)
        if exc.code == 404:
            return UNKNOWN_MODEL.format(model=repr(settings.model), detail=detail)
        if exc.code >= 500 or exc.code == 408:
            return SERVER_ERROR.format(code=exc.code, attempts=attempts, detail=detail)
        return REJECTED.format(code=exc.code, detail=detail)
    if isinstance(exc, errors.UnknownApiResponseError) or "JSONDecodeError" in {c.__name__ for c in type(exc).__mro__}:
        return REPLY_NOT_JSON
    # The SDK sends through httpx or its fork httpx2; match their exception classes by name.
    lineage = {cls.__name__ for cls in type(exc).__mro__}
    if "TimeoutException" in lineage:
        return TIMED_OUT.format(seconds=f"{settings.timeout_s:g}", attempts=attempts)
    if "HTTPError" in lineage or "TransportError" in lineage:
        return UNREACHABLE.format(error=type(exc).__name__, attempts=attempts)
    return UNEXPECTED.format(error=f"{type(exc).__name__}: {redact(exc)[:160]}")


def _call(settings: GeminiSettings, system: str, user: str, schema=None):
    from google.genai import types

    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=settings.temperature,
        candidate_count=1,
        response_mime_type="application/json" if schema is not None else "text/plain",
        response_schema=schema,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),  # no tools here
    )
    deadline = time.monotonic() + settings.deadline_s
    attempt = 0
    while True:
        attempt += 1
        timeout = min(settings.timeout_s, deadline - time.monotonic())
        try:
            # The client must stay referenced during the call: a collected Client closes its HTTP pool.
            with _client(settings, timeout) as client:
                response = client.models.generate_content(model=settings.model, contents=user, config=config)
            break
        except GeminiFailure:
            raise
        except Exception as exc:  # the SDK, httpx and pydantic raise many types; all mean "no answer"
            wait = settings.backoff_s(attempt, random.random())
            left = deadline - time.monotonic()
            if not _retryable(exc) or attempt >= settings.attempts:
                raise GeminiFailure(_explain(exc, settings, attempt)) from None
            if left < wait + MIN_ATTEMPT_S:
                raise GeminiFailure(DEADLINE.format(seconds=f"{settings.deadline_s:g}", attempts=attempt)) from None
            logger.info(
                "Gemini attempt %d failed (%s); retrying in %.1f s", attempt, _explain(exc, settings, attempt), wait
            )
            time.sleep(wait)
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        name = getattr(feedback.block_reason, "name", str(feedback.block_reason))
        raise GeminiFailure(BLOCKED.format(name=name))
    if not response.candidates:
        raise GeminiFailure(NO_CANDIDATES)
    finish = response.candidates[0].finish_reason
    finish_name = getattr(finish, "name", None) if finish is not None else None
    if finish_name is not None and finish_name not in ACCEPTED_FINISH:
        raise GeminiFailure(INCOMPLETE.format(name=finish_name))
    text = response.text
    if not text or not text.strip():
        raise GeminiFailure(EMPTY.format(name=finish_name or "NONE"))
    return response, text


def generate_sections(settings: GeminiSettings, facts: ReportFacts, language: str) -> ReportSections:
    """The four-section report from Gemini. Raises GeminiFailure."""
    system, user = build_prompt(facts, language)
    response, text = _call(settings, system, user, schema=ReportSections)
    parsed = response.parsed
    if isinstance(parsed, ReportSections):
        return parsed
    try:
        return ReportSections.model_validate_json(text)
    except Exception as exc:
        not_json = "json" in type(exc).__name__.lower() or "Invalid JSON" in str(exc)
        raise GeminiFailure(ANSWER_NOT_JSON if not_json else ANSWER_NOT_REPORT) from None


def ask_gemini(settings: GeminiSettings, facts: ReportFacts, question: str, language: str) -> str:
    """A short free-text answer grounded on the facts. Raises GeminiFailure."""
    system, user = build_ask_prompt(facts, question, language)
    _response, text = _call(settings, system, user)
    return text.strip()
