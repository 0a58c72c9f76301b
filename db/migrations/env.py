"""Alembic environment: run programmatically by db.engine.upgrade with the library's engine."""

from alembic import context

from db.models import Base

ADVISORY_LOCK_ID = 0x43585231  # "CXR1": one migrator at a time on PostgreSQL


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=is_sqlite,  # SQLite changes columns by copying tables
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Two app processes starting at once must not both create the tables.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_ID})")
            # On SQLite the transaction began with BEGIN IMMEDIATE, which serialises migrators.
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; use db.ensure_library")
run_migrations_online()
