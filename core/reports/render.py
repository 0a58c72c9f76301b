"""Reports as readable Markdown, and the difference between two versions."""

from __future__ import annotations

import difflib

from core.reports.content import HEADINGS, NOTICE, SECTION_KEYS
from core.reports.fact_check import reason_in
from core.reports.redaction import redact
from core.reports.service import source_reason_in
from core.reports.store import ReportRecord

SOURCE_LINE = {
    "en": {
        "gemini": "Written by Gemini (`{model}`) from the case facts",
        "offline": "Offline template report (no LLM)",
        "why": "Why offline",
        "guard_ok": "Fact check passed",
        "guard_fail": "Fact check FAILED — do not trust this report",
        "version": "version {version} · prompt {prompt} · model {model_version}",
    },
    "ko": {
        "gemini": "Gemini(`{model}`)가 사례 사실로부터 작성",
        "offline": "오프라인 템플릿 리포트 (LLM 미사용)",
        "why": "오프라인인 이유",
        "guard_ok": "사실 검증 통과",
        "guard_fail": "사실 검증 실패 — 이 리포트를 신뢰하지 마십시오",
        "version": "버전 {version} · 프롬프트 {prompt} · 모델 {model_version}",
    },
}


def sections_of(record: ReportRecord) -> dict[str, str]:
    return record.content.get("sections", {})


def to_markdown(record: ReportRecord, *, header: bool = True) -> str:
    lang = record.language
    words, headings = SOURCE_LINE[lang], HEADINGS[lang]
    lines: list[str] = []
    if header:
        lines.append(f"### {headings['title']}")
        source = words["gemini"].format(model=record.llm_model) if record.source == "gemini" else words["offline"]
        lines.append(
            f"**{source}** · "
            + words["version"].format(
                version=record.version, prompt=record.prompt_version, model_version=record.model_version
            )
        )
        if record.source_reason:
            lines.append(f"> {words['why']}: {source_reason_in(lang, record.source_reason)}")
        if record.guard_passed:
            lines.append(f"✅ {words['guard_ok']}")
        else:
            lines.append(f"⚠️ **{words['guard_fail']}:** " + "; ".join(reason_in(lang, r) for r in record.guard_reasons))
        lines.append("")
    sections = sections_of(record)
    for key in SECTION_KEYS:
        lines.append(f"#### {headings[key]}")
        lines.append(sections.get(key, "").strip() or "—")
        lines.append("")
    lines.append(f"*{NOTICE[lang]}*")
    return redact("\n".join(lines))  # belt and braces: nothing rendered can carry the key


def diff_markdown(old: ReportRecord, new: ReportRecord) -> str:
    """A unified diff of the two reports' sections (headers left out: they always differ)."""
    a = to_markdown(old, header=False).splitlines()
    b = to_markdown(new, header=False).splitlines()
    return "\n".join(
        difflib.unified_diff(
            a, b, f"version {old.version} ({old.source})", f"version {new.version} ({new.source})", lineterm=""
        )
    )


def similarity(old: ReportRecord, new: ReportRecord) -> float:
    a, b = to_markdown(old, header=False), to_markdown(new, header=False)
    return difflib.SequenceMatcher(None, a, b).ratio()
