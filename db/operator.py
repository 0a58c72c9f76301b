"""The machine operator: the command line (`python -m db …`, `python -m core …`) and the server's own
background jobs (the demo seed) act as it, with no user behind them, and db.permissions.require lets it
through. Pages must not import this module (an import contract in pyproject.toml holds that): a page
acts only as its signed-in user, whose roles are checked at every write."""

from __future__ import annotations


class Operator:
    """The one acting party that is not a user (OPERATOR)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR = Operator()
