"""Reports carry what made them: model, prompt, LLM, language, source, guard verdict, version.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("image_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("prompt_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("llm_model", sa.String(100), nullable=True))
        # Reports written before this revision were English and offline, version 1.
        batch.add_column(sa.Column("language", sa.String(16), nullable=False, server_default="en"))
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="offline"))
        batch.add_column(sa.Column("status", sa.String(32), nullable=False, server_default="ok"))
        batch.add_column(sa.Column("guard_passed", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("guard_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.create_foreign_key("fk_reports_image_id_images", "images", ["image_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_reports_case_created", "reports", ["case_id", "created_at"])
    op.create_index("ix_reports_case_language_version", "reports", ["case_id", "language", "version"])
    # Existing reports get their image from their case.
    op.execute("UPDATE reports SET image_id = (SELECT cases.image_id FROM cases WHERE cases.id = reports.case_id)")


def downgrade() -> None:
    op.drop_index("ix_reports_case_language_version", table_name="reports")
    op.drop_index("ix_reports_case_created", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("fk_reports_image_id_images", type_="foreignkey")
        for column in (
            "version",
            "guard_reasons",
            "guard_passed",
            "status",
            "source",
            "language",
            "llm_model",
            "prompt_version",
            "model_version",
            "image_id",
        ):
            batch.drop_column(column)
