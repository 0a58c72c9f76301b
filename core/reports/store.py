"""Stored reports: the record (the same fields as the `reports` table), its cache key, and storage.

The SQL implementation lives in db/; this module defines what it must provide (`ReportStore`)
and an in-memory version for the app's session and for tests.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

SOURCES = ("gemini", "offline")


@dataclass(frozen=True)
class ReportKey:
    """Same key → the stored report is returned instead of a new one."""

    image_id: str
    model_version: str
    prompt_version: str
    language: str
    llm_model: str


def cache_key(image_id: str, model_version: str, prompt_version: str, language: str, llm_model: str) -> ReportKey:
    return ReportKey(image_id, model_version, prompt_version, language, llm_model)


@dataclass(frozen=True)
class ReportRecord:
    image_id: str  # core.reports.facts.image_id of the validated pixels
    model_version: str
    prompt_version: str
    llm_model: str  # the Gemini model, or core.reports.offline.OFFLINE_MODEL
    language: str  # "en" | "ko"
    source: str  # "gemini" | "offline"
    guard_passed: bool
    guard_reasons: tuple[str, ...]  # JSON list in SQL
    content: dict  # JSON: {"sections": {...}, "facts": {...}, "source_reason": str | None}
    version: int = 0  # assigned by the store: 1, 2, … per key
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    case_id: int | None = None  # the library's case, once the report is stored with one

    @property
    def key(self) -> ReportKey:
        return cache_key(self.image_id, self.model_version, self.prompt_version, self.language, self.llm_model)

    @property
    def source_reason(self) -> str | None:
        return self.content.get("source_reason")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["guard_reasons"] = list(self.guard_reasons)
        out["created_at"] = self.created_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ReportRecord:
        data = dict(data)
        data["guard_reasons"] = tuple(data.get("guard_reasons") or ())
        if isinstance(data.get("created_at"), str):
            data["created_at"] = datetime.fromisoformat(data["created_at"])
        return cls(**data)


class ReportStore(Protocol):
    def latest(self, key: ReportKey) -> ReportRecord | None: ...

    def versions(self, key: ReportKey) -> list[ReportRecord]:
        """Every version for the key, oldest first."""
        ...

    def add(self, record: ReportRecord) -> ReportRecord:
        """Store as the key's next version; returns the record with its version number set."""
        ...


class InMemoryReportStore:
    def __init__(self):
        self._by_key: dict[ReportKey, list[ReportRecord]] = {}
        self._lock = threading.Lock()

    def latest(self, key: ReportKey) -> ReportRecord | None:
        with self._lock:
            found = self._by_key.get(key)
            return found[-1] if found else None

    def versions(self, key: ReportKey) -> list[ReportRecord]:
        with self._lock:
            return list(self._by_key.get(key, ()))

    def add(self, record: ReportRecord) -> ReportRecord:
        if record.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {record.source!r}")
        with self._lock:
            versions = self._by_key.setdefault(record.key, [])
            stored = dataclasses.replace(record, version=len(versions) + 1)
            versions.append(stored)
            return stored

    def all(self) -> list[ReportRecord]:
        with self._lock:
            return [r for rs in self._by_key.values() for r in rs]
