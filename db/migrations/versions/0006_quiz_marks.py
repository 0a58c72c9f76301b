"""Quiz answers keep where the student clicked on the image (x, y as fractions of its width and height).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quiz_answers") as batch:
        batch.add_column(sa.Column("mark_x", sa.Float(), nullable=True))
        batch.add_column(sa.Column("mark_y", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quiz_answers") as batch:
        batch.drop_column("mark_y")
        batch.drop_column("mark_x")
