"""Cases carry an instructor's reference interpretation (reports are scored against it).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("reference_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reference_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("reference_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column in ("reference_at", "reference_by", "reference_text"):
            batch.drop_column(column)
