"""Educational reports on one analysis: facts → prompt → Gemini or offline template → fact check → store."""

from core.reports.ask import Answer, ask_why
from core.reports.fact_check import GuardResult, check_report
from core.reports.facts import FACTS_VERSION, NoPrediction, ReportFacts, build_facts, image_id
from core.reports.gemini import DEFAULT_MODEL, GeminiFailure, GeminiSettings
from core.reports.offline import OFFLINE_MODEL, offline_report
from core.reports.prompt import PROMPT_VERSION
from core.reports.render import diff_markdown, to_markdown
from core.reports.scoring import ReferenceScores, score_against_reference
from core.reports.service import ReportOutcome, get_report, previous_version
from core.reports.store import InMemoryReportStore, ReportKey, ReportRecord, ReportStore, cache_key

__all__ = [
    "Answer",
    "ask_why",
    "FACTS_VERSION",
    "NoPrediction",
    "ReportFacts",
    "build_facts",
    "image_id",
    "DEFAULT_MODEL",
    "GeminiFailure",
    "GeminiSettings",
    "GuardResult",
    "check_report",
    "OFFLINE_MODEL",
    "offline_report",
    "PROMPT_VERSION",
    "diff_markdown",
    "to_markdown",
    "ReferenceScores",
    "score_against_reference",
    "ReportOutcome",
    "get_report",
    "previous_version",
    "InMemoryReportStore",
    "ReportKey",
    "ReportRecord",
    "ReportStore",
    "cache_key",
]
