"""The first library: images, cases, tags, ground-truth history, predictions, reports, teaching sets.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "library_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("source_format", sa.String(8), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("sha256", name="uq_images_sha256"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "image_id",
            sa.Integer(),
            sa.ForeignKey("images.id", ondelete="RESTRICT", name="fk_cases_image_id_images"),
            nullable=False,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("truth_label", sa.String(16)),
        sa.Column("truth_set_by", sa.String(100)),
        sa.Column("truth_set_at", TS),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("difficulty", sa.String(16)),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("image_id", name="uq_cases_image_id"),
    )
    op.create_index("ix_cases_truth_label", "cases", ["truth_label"])
    op.create_index("ix_cases_difficulty", "cases", ["difficulty"])
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_index("ix_cases_title", "cases", ["title"])
    op.create_table(
        "case_tags",
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_case_tags_case_id_cases"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(64), primary_key=True),
    )
    op.create_index("ix_case_tags_tag", "case_tags", ["tag", "case_id"])
    op.create_table(
        "truth_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_truth_history_case_id_cases"),
            nullable=False,
        ),
        sa.Column("old_label", sa.String(16)),
        sa.Column("new_label", sa.String(16)),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_truth_history_case_id", "truth_history", ["case_id"])
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "image_id",
            sa.Integer(),
            sa.ForeignKey("images.id", ondelete="CASCADE", name="fk_predictions_image_id_images"),
            nullable=False,
        ),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("uncertainty", sa.Float()),
        sa.Column("cam", sa.LargeBinary(), nullable=False),
        sa.Column("cam_height", sa.Integer(), nullable=False),
        sa.Column("cam_width", sa.Integer(), nullable=False),
        sa.Column("cam_target", sa.String(16), nullable=False),
        sa.Column("cam_summary", sa.JSON(), nullable=False),
        sa.Column("guard", sa.JSON()),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("image_id", "model_version", name="uq_predictions_image_model"),
    )
    op.create_index("ix_predictions_model_label", "predictions", ["model_version", "label", "image_id"])
    op.create_index("ix_predictions_model_probability", "predictions", ["model_version", "probability", "image_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_reports_case_id_cases"),
            nullable=False,
        ),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "teaching_sets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_teaching_sets_name"),
    )
    op.create_index("ix_teaching_sets_published", "teaching_sets", ["published"])
    op.create_table(
        "teaching_set_items",
        sa.Column(
            "set_id",
            sa.Integer(),
            sa.ForeignKey("teaching_sets.id", ondelete="CASCADE", name="fk_teaching_set_items_set_id_teaching_sets"),
            primary_key=True,
        ),
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("cases.id", ondelete="CASCADE", name="fk_teaching_set_items_case_id_cases"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_teaching_set_items_set_position", "teaching_set_items", ["set_id", "position"])
    op.create_index("ix_teaching_set_items_case", "teaching_set_items", ["case_id", "set_id"])


def downgrade() -> None:
    for table in (
        "teaching_set_items",
        "teaching_sets",
        "reports",
        "predictions",
        "truth_history",
        "case_tags",
        "cases",
        "images",
        "library_meta",
    ):
        op.drop_table(table)
