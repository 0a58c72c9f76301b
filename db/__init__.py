"""The case library: SQLAlchemy 2 models, Alembic migrations and repository functions.

Nothing here imports torch or core.model: operations that need inference live in core.ingest,
and `python -m db` imports that lazily, only in the commands that need it.
"""
from db.engine import database_url, ensure_library, make_engine, session_scope

__all__ = ["database_url", "ensure_library", "make_engine", "session_scope"]
