"""The library's tables (the schema at the latest migration).

Alembic revisions in db/migrations are the source of truth for the database itself;
tests check that these models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LibraryMeta(Base):
    """Key/value facts about this library (e.g. whether the demo cases were seeded)."""

    __tablename__ = "library_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Image(Base):
    """A validated grayscale radiograph, stored once however often it is uploaded.

    `sha256` hashes the decoded pixels (with their shape), not the file, so the same picture
    re-saved with other metadata is still one image. No file metadata is kept.
    """

    __tablename__ = "images"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    source_format: Mapped[str] = mapped_column(String(8))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="RESTRICT"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    truth_label: Mapped[str | None] = mapped_column(String(16), index=True)
    truth_set_by: Mapped[str | None] = mapped_column(String(100))
    truth_set_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str] = mapped_column(Text, default="")
    difficulty: Mapped[str | None] = mapped_column(String(16), index=True)
    # Bumped by every edit; an edit made on a stale copy is refused instead of overwriting.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Added in revision 0003: an instructor's reference interpretation; reports are scored against it.
    reference_text: Mapped[str | None] = mapped_column(Text)
    reference_by: Mapped[str | None] = mapped_column(String(200))
    reference_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    image: Mapped[Image] = relationship(lazy="joined", innerjoin=True)
    tags: Mapped[list[CaseTag]] = relationship(cascade="all, delete-orphan", order_by="CaseTag.tag")

    __table_args__ = (Index("ix_cases_title", "title"),)


class CaseTag(Base):
    __tablename__ = "case_tags"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (Index("ix_case_tags_tag", "tag", "case_id"),)


class TruthChange(Base):
    """Every ground-truth change: who, when, from what to what."""

    __tablename__ = "truth_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    old_label: Mapped[str | None] = mapped_column(String(16))
    new_label: Mapped[str | None] = mapped_column(String(16))
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Prediction(Base):
    """One model version's output for one image. Only trained models' outputs are stored."""

    __tablename__ = "predictions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float | None] = mapped_column(Float)
    cam: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(float16 little-endian), see db.codec
    cam_height: Mapped[int] = mapped_column(Integer)
    cam_width: Mapped[int] = mapped_column(Integer)
    cam_target: Mapped[str] = mapped_column(String(16))
    cam_summary: Mapped[dict] = mapped_column(JSON)
    guard: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added in revision 0005: where the heatmap sits relative to the lungs (core.explain.limits' dict), the
    # in-lung CAM share copied out of it so the Model Limits gallery can sort on an index, and the
    # 224×224 lung mask (core.explain.limits.pack_mask). NULL until computed (`python -m db limits` back-fills).
    limits: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # None → SQL NULL, not JSON 'null'
    lung_share: Mapped[float | None] = mapped_column(Float)
    lung_mask: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("image_id", "model_version", name="uq_predictions_image_model"),
        Index("ix_predictions_model_label", "model_version", "label", "image_id"),
        Index("ix_predictions_model_probability", "model_version", "probability", "image_id"),
        Index("ix_predictions_model_lung_share", "model_version", "lung_share", "image_id"),
    )


class Report(Base):
    """An educational report on a case (written by the report feature)."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    content: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added in revision 0002:
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    model_version: Mapped[str | None] = mapped_column(String(64))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    llm_model: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16), default="en")
    source: Mapped[str] = mapped_column(String(16), default="offline")  # 'gemini' | 'offline'
    status: Mapped[str] = mapped_column(String(32), default="ok")
    guard_passed: Mapped[bool | None] = mapped_column(Boolean)
    guard_reasons: Mapped[list | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_reports_case_created", "case_id", "created_at"),
        Index("ix_reports_case_language_version", "case_id", "language", "version"),
    )


class TeachingSet(Base):
    __tablename__ = "teaching_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    items: Mapped[list[TeachingSetItem]] = relationship(
        cascade="all, delete-orphan", order_by="TeachingSetItem.position"
    )


class TeachingSetItem(Base):
    __tablename__ = "teaching_set_items"
    set_id: Mapped[int] = mapped_column(ForeignKey("teaching_sets.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_teaching_set_items_set_position", "set_id", "position"),
        Index("ix_teaching_set_items_case", "case_id", "set_id"),
    )


# Added in revision 0004: users, roles, and quizzes.


class User(Base):
    """A person who logs in. Only an argon2 hash of the password is ever stored."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # stored lower-case: logins ignore case
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Brute-force brake: consecutive failures, and when the next attempt is allowed.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Interface language the user chose ("en", "ko", …; migration 0009); None: the browser's.
    language: Mapped[str | None] = mapped_column(String(16))
    # Set by an instructor's password reset (migration 0010): nothing opens until the user picks a new one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", order_by="UserRole.role", lazy="selectin"
    )


class UserSession(Base):
    """One login (migration 0010). The browser holds a signed random token; only its SHA-256 is kept here.

    A session ends when it expires, or when it is revoked: logout, deactivation, a password change or reset,
    a change of roles.
    """

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_sessions_user", "user_id", "revoked_at"),)


class LoginThrottle(Base):
    """Failed logins from one client, whatever user names they tried (migration 0011): the brake on a
    spray of guesses across many accounts. The key is a SHA-256 of the client's address, never the address.
    Kept in the library so that every server process sharing it counts the same failures."""

    __tablename__ = "login_throttle"
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_login_throttle_last_failure_at", "last_failure_at"),)


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    __table_args__ = (Index("ix_user_roles_role", "role", "user_id"),)


class QuizAttempt(Base):
    """One quiz a student took: which cases, in which order, in which mode."""

    __tablename__ = "quiz_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    set_id: Mapped[int | None] = mapped_column(ForeignKey("teaching_sets.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(200))  # the set's name then, or "random from the library"
    mode: Mapped[str] = mapped_column(String(16))
    case_ids: Mapped[list] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    answers: Mapped[list[QuizAnswer]] = relationship(cascade="all, delete-orphan", order_by="QuizAnswer.position")

    __table_args__ = (Index("ix_quiz_attempts_user_started", "user_id", "started_at"),)


class QuizAnswer(Base):
    """One answer, with what was true and what the model said at that moment (kept if the case changes later)."""

    __tablename__ = "quiz_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    answer: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)  # 0.5–1.0, in the chosen answer
    truth_label: Mapped[str] = mapped_column(String(16))
    correct: Mapped[bool] = mapped_column(Boolean)
    model_label: Mapped[str | None] = mapped_column(String(16))
    model_probability: Mapped[float | None] = mapped_column(Float)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added in revision 0006: where the student clicked (fractions of the image's width and height), if they did.
    mark_x: Mapped[float | None] = mapped_column(Float)
    mark_y: Mapped[float | None] = mapped_column(Float)
    # "Spot the shortcut": the accepted answers (comma-separated core.shortcut categories) and why.
    expected: Mapped[str | None] = mapped_column(String(64))
    expected_basis: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("attempt_id", "position", name="uq_quiz_answers_attempt_position"),
        Index("ix_quiz_answers_case", "case_id"),
    )


# Added in revision 0005: shortcut flags on predictions, reviewers' verdicts on them, reviewers' tags.


class PredictionFlag(Base):
    """One rule-based shortcut flag raised on a prediction (written from limits["flags"])."""

    __tablename__ = "prediction_flags"
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True)
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)
    __table_args__ = (Index("ix_prediction_flags_flag", "flag", "prediction_id"),)


class FlagReview(Base):
    """A reviewer's verdict on one flag of one case under one model version. History is kept; the latest wins."""

    __tablename__ = "flag_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(64))
    flag: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))  # 'confirmed' | 'rejected'
    reviewer: Mapped[str] = mapped_column(String(100))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_flag_reviews_case_model_flag", "case_id", "model_version", "flag", "id"),)


class LimitTag(Base):
    """A reviewer's own tag on a case's model limit (one of REVIEW_TAGS)."""

    __tablename__ = "limit_tags"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_limit_tags_tag", "tag", "case_id"),)


# Added in revision 0008: explanation maps, computed once per image, model, method, target and parameters.


class ExplanationMap(Base):
    """One explanation method's map of one image for one target class, under one model version."""

    __tablename__ = "explanation_maps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(16))
    params_key: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical JSON of `params`
    params: Mapped[dict] = mapped_column(JSON)
    map: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(float16) of map / scale, see db.codec
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)  # largest |value|: float16 keeps the shape, this the size
    milliseconds: Mapped[float] = mapped_column(Float)  # what computing it cost, shown on its card
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        UniqueConstraint("image_id", "model_version", "method", "target", "params_key", name="uq_explanation_maps_key"),
    )
