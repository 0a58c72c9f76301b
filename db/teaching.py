"""Teaching sets: named, ordered selections of cases that instructors curate and publish.

Every change takes the acting user (or the operator) and checks the permission table first
(db.permissions.require): a draft set may be collected by a reviewer, the rest is an instructor's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.vocabulary import N_
from db.errors import LibraryError, NotFound
from db.models import Case, TeachingSet, TeachingSetItem, utcnow
from db.permissions import Actor, require

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class SetSummary:
    id: int
    name: str
    description: str
    published: bool
    size: int


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise LibraryError(N_("A teaching set needs a name."))
    if len(name) > MAX_NAME_LENGTH:
        raise LibraryError(N_("The name is longer than {most} characters."), most=MAX_NAME_LENGTH)
    return name


def _name_taken(session: Session, name: str, except_id: int | None = None) -> bool:
    query = select(TeachingSet.id).where(func.lower(TeachingSet.name) == name.lower())
    if except_id is not None:
        query = query.where(TeachingSet.id != except_id)
    return session.scalar(query) is not None


def get_set(session: Session, set_id: int, lock: bool = False) -> TeachingSet:
    query = select(TeachingSet).where(TeachingSet.id == set_id)
    # Locking the set row serialises concurrent edits of its order (PostgreSQL; SQLite writes are serial anyway).
    found = session.scalars(query.with_for_update() if lock else query).first()
    if found is None:
        raise NotFound(N_("Teaching set {set_id} does not exist (it may have been deleted)."), set_id=set_id)
    return found


def find_set(session: Session, name: str) -> TeachingSet | None:
    return session.scalars(select(TeachingSet).where(func.lower(TeachingSet.name) == _clean_name(name).lower())).first()


def create_set(session: Session, actor: Actor, name: str, description: str = "") -> TeachingSet:
    require(session, actor, "create_set")
    name = _clean_name(name)
    if _name_taken(session, name):
        raise LibraryError(N_("A teaching set called {name!r} already exists."), name=name)
    row = TeachingSet(name=name, description=description or "", published=False)
    session.add(row)
    session.flush()
    return row


def rename_set(session: Session, actor: Actor, set_id: int, name: str) -> TeachingSet:
    require(session, actor, "rename_set")
    name = _clean_name(name)
    row = get_set(session, set_id, lock=True)
    if _name_taken(session, name, except_id=set_id):
        raise LibraryError(N_("A teaching set called {name!r} already exists."), name=name)
    row.name, row.updated_at = name, utcnow()
    return row


def describe_set(session: Session, actor: Actor, set_id: int, description: str) -> TeachingSet:
    require(session, actor, "describe_set")
    row = get_set(session, set_id, lock=True)
    row.description, row.updated_at = description or "", utcnow()
    return row


def publish_set(session: Session, actor: Actor, set_id: int, published: bool = True) -> TeachingSet:
    require(session, actor, "publish_set")
    row = get_set(session, set_id, lock=True)
    if published and not row.items:
        raise LibraryError(N_("An empty teaching set cannot be published: add cases first."))
    row.published, row.updated_at = bool(published), utcnow()
    return row


def delete_set(session: Session, actor: Actor, set_id: int) -> None:
    require(session, actor, "delete_set")
    session.delete(get_set(session, set_id, lock=True))


def list_sets(session: Session, published_only: bool = False) -> list[SetSummary]:
    size = select(func.count()).where(TeachingSetItem.set_id == TeachingSet.id).scalar_subquery()
    query = select(TeachingSet.id, TeachingSet.name, TeachingSet.description, TeachingSet.published, size)
    if published_only:
        query = query.where(TeachingSet.published.is_(True))
    return [SetSummary(*row) for row in session.execute(query.order_by(TeachingSet.name))]


def set_case_ids(session: Session, set_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TeachingSetItem.case_id)
            .where(TeachingSetItem.set_id == set_id)
            .order_by(TeachingSetItem.position, TeachingSetItem.case_id)
        )
    )


def set_cases(session: Session, set_id: int) -> list[Case]:
    return list(
        session.scalars(
            select(Case)
            .join(TeachingSetItem, TeachingSetItem.case_id == Case.id)
            .where(TeachingSetItem.set_id == set_id)
            .order_by(TeachingSetItem.position, TeachingSetItem.case_id)
        )
    )


def sets_for_case(session: Session, case_id: int) -> list[SetSummary]:
    ids = set(session.scalars(select(TeachingSetItem.set_id).where(TeachingSetItem.case_id == case_id)))
    return [s for s in list_sets(session) if s.id in ids]


def _renumber(session: Session, row: TeachingSet, ordered_case_ids: list[int]) -> None:
    items = {item.case_id: item for item in row.items}
    for position, case_id in enumerate(ordered_case_ids):
        items[case_id].position = position
    row.updated_at = utcnow()
    session.flush()


def add_to_set(session: Session, actor: Actor, set_id: int, case_ids: list[int]) -> int:
    """Append cases (in the given order) that are not in the set yet; returns how many were added.

    A draft set takes a reviewer's cases; a published one only an instructor's."""
    require(session, actor, "add_to_set")
    row = get_set(session, set_id, lock=True)
    if row.published:
        require(session, actor, "add_to_published_set")
    present = {item.case_id for item in row.items}
    wanted = [c for c in dict.fromkeys(int(c) for c in case_ids) if c not in present]
    existing = set(session.scalars(select(Case.id).where(Case.id.in_(wanted)))) if wanted else set()
    missing = [c for c in wanted if c not in existing]
    if missing:
        raise NotFound(N_("Case {case_id} is not in the library; nothing was added."), case_id=missing[0])
    start = max((item.position for item in row.items), default=-1) + 1
    for offset, case_id in enumerate(wanted):
        row.items.append(TeachingSetItem(case_id=case_id, position=start + offset))
    row.updated_at = utcnow()
    session.flush()
    return len(wanted)


def remove_from_set(session: Session, actor: Actor, set_id: int, case_id: int) -> None:
    require(session, actor, "remove_from_set")
    row = get_set(session, set_id, lock=True)
    order = [item.case_id for item in row.items]
    if case_id not in order:
        raise NotFound(N_("Case {case_id} is not in the set {name!r}."), case_id=case_id, name=row.name)
    row.items.remove(next(item for item in row.items if item.case_id == case_id))
    session.flush()
    order.remove(case_id)
    _renumber(session, row, order)


def move_in_set(session: Session, actor: Actor, set_id: int, case_id: int, steps: int) -> None:
    """Move a case up (negative) or down (positive) in the set's order."""
    require(session, actor, "move_in_set")
    row = get_set(session, set_id, lock=True)
    order = [item.case_id for item in row.items]
    if case_id not in order:
        raise NotFound(N_("Case {case_id} is not in the set {name!r}."), case_id=case_id, name=row.name)
    i = order.index(case_id)
    j = max(0, min(len(order) - 1, i + steps))
    order.insert(j, order.pop(i))
    _renumber(session, row, order)


def reorder_set(session: Session, actor: Actor, set_id: int, ordered_case_ids: list[int]) -> None:
    """Give the full new order; it must name exactly the set's cases."""
    require(session, actor, "reorder_set")
    row = get_set(session, set_id, lock=True)
    ordered = [int(c) for c in ordered_case_ids]
    if sorted(ordered) != sorted(item.case_id for item in row.items):
        raise LibraryError(N_("The new order must list every case of the set exactly once."))
    _renumber(session, row, ordered)
