"""One page of a filtered query: its rows, and where it sits among all the matches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_window(session: Session, query: Select[Any], page: int, per_page: int, most: int) -> tuple[int, int, int]:
    """(matches, page, page size): the size clamped to 1..most, the page to the ones that exist."""
    total = int(session.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    per_page = max(1, min(int(per_page), most))
    return total, max(1, min(int(page), max(1, -(-total // per_page)))), per_page
