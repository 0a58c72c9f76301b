"""Model limits: where the heatmap sits relative to the lungs, shortcut flags, reviewers' verdicts and tags.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("limits", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("lung_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("lung_mask", sa.LargeBinary(), nullable=True))
    op.create_index("ix_predictions_model_lung_share", "predictions", ["model_version", "lung_share", "image_id"])
    op.create_table(
        "prediction_flags",
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("flag", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name="fk_prediction_flags_prediction_id_predictions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", "flag", name="pk_prediction_flags"),
    )
    op.create_index("ix_prediction_flags_flag", "prediction_flags", ["flag", "prediction_id"])
    op.create_table(
        "flag_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_flag_reviews_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_flag_reviews"),
    )
    op.create_index("ix_flag_reviews_case_model_flag", "flag_reviews", ["case_id", "model_version", "flag", "id"])
    op.create_table(
        "limit_tags",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_limit_tags_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "tag", name="pk_limit_tags"),
    )
    op.create_index("ix_limit_tags_tag", "limit_tags", ["tag", "case_id"])


def downgrade() -> None:
    op.drop_table("limit_tags")
    op.drop_table("flag_reviews")
    op.drop_table("prediction_flags")
    op.drop_index("ix_predictions_model_lung_share", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        for column in ("lung_mask", "lung_share", "limits"):
            batch.drop_column(column)
