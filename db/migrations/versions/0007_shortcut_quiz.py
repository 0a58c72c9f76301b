""" "Spot the shortcut" answers keep what the heatmap was expected to show, and why.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quiz_answers") as batch:
        batch.add_column(sa.Column("expected", sa.String(64), nullable=True))
        batch.add_column(sa.Column("expected_basis", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quiz_answers") as batch:
        batch.drop_column("expected_basis")
        batch.drop_column("expected")
