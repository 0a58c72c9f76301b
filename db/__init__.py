"""The case library: SQLAlchemy 2 models, Alembic migrations and repository functions.

Persistence only: nothing here imports torch or the domain, beyond core.vocabulary (an import
contract holds that). Work that needs both lives in core.services; `python -m db` is its face.
"""
