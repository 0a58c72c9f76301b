"""One entry point: facts → stored report (reused, Gemini, or offline), checked and versioned."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from core.i18n import translator
from core.reports import ask, gemini
from core.reports.content import ReportSections, check_language
from core.reports.fact_check import check_report, reason_in
from core.reports.facts import ReportFacts
from core.reports.gemini import GeminiFailure, GeminiSettings, generate_sections
from core.reports.offline import OFFLINE_MODEL, offline_report
from core.reports.prompt import PROMPT_VERSION
from core.reports.redaction import redact
from core.reports.store import ReportKey, ReportRecord, ReportStore, cache_key

logger = logging.getLogger("core.reports.service")
NO_KEY_REASON = gemini.NO_KEY


def source_reason_in(language: str | None, reason: str | None) -> str:
    """Why a report or an Ask-why answer is offline (a stored English reason), in `language`."""
    if not reason:
        return ""
    translate = translator(language)
    prefix = ask.FAILED_CHECK.split("{reasons}")[0]
    if reason.startswith(prefix):
        reasons = "; ".join(reason_in(language, part) for part in reason[len(prefix) :].split("; "))
        return translate(ask.FAILED_CHECK, reasons=reasons)
    return translate.from_template(reason, *gemini.REASONS, ask.NO_KEY)


@dataclass(frozen=True)
class ReportOutcome:
    record: ReportRecord
    reused: bool  # True: the stored report for this key, no new call


def key_for(facts: ReportFacts, image_id: str, language: str, settings: GeminiSettings | None) -> ReportKey:
    llm = settings.model if settings is not None and settings.online else OFFLINE_MODEL
    return cache_key(image_id, facts.model_version, PROMPT_VERSION, check_language(language), llm)


def _record(facts, image_id, language, sections: ReportSections, source, llm_model, reason, case_id) -> ReportRecord:
    guard = check_report(sections, facts)
    content = {
        "sections": {k: redact(v) if isinstance(v, str) else v for k, v in sections.model_dump().items()},
        "facts": json.loads(facts.to_json()),  # JSON-native, as a SQL JSON column returns it
        "source_reason": redact(reason) if reason else None,
    }
    return ReportRecord(
        image_id=image_id,
        model_version=facts.model_version,
        prompt_version=PROMPT_VERSION,
        llm_model=llm_model,
        language=language,
        source=source,
        guard_passed=guard.passed,
        guard_reasons=guard.reasons,
        content=content,
        case_id=case_id,
    )


def get_report(
    facts: ReportFacts,
    image_id: str,
    store: ReportStore,
    *,
    language: str = "en",
    settings: GeminiSettings | None = None,
    regenerate: bool = False,
    case_id: int | None = None,
) -> ReportOutcome:
    """The stored report for this key, or a new one (`regenerate` always makes a new version).

    With a key, Gemini is asked; if it fails, the offline template is stored under the offline
    model's key with the reason, so a later request tries Gemini again instead of reusing a fallback.
    """
    language = check_language(language)
    key = key_for(facts, image_id, language, settings)
    if not regenerate:
        found = store.latest(key)
        if found is not None:
            return ReportOutcome(found, reused=True)
    if settings is None or not settings.online:
        record = _record(
            facts, image_id, language, offline_report(facts, language), "offline", OFFLINE_MODEL, NO_KEY_REASON, case_id
        )
    else:
        try:
            sections = generate_sections(settings, facts, language)
            record = _record(facts, image_id, language, sections, "gemini", settings.model, None, case_id)
        except GeminiFailure as exc:
            logger.warning("Gemini report failed; using the offline template: %s", exc.reason)
            record = _record(
                facts,
                image_id,
                language,
                offline_report(facts, language),
                "offline",
                OFFLINE_MODEL,
                exc.reason,
                case_id,
            )
    if not record.guard_passed:
        logger.warning("report for %s failed the fact check: %s", image_id[:12], "; ".join(record.guard_reasons))
    return ReportOutcome(store.add(record), reused=False)


def previous_version(store: ReportStore, record: ReportRecord) -> ReportRecord | None:
    earlier = [r for r in store.versions(record.key) if r.version < record.version]
    return earlier[-1] if earlier else None
