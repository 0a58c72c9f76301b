"""The plain words the domain and the case library share: class names, flags, tags, modes, roles,
and the shape of a message meant for a person (`N_`, `Worded`), so that db/ can word its refusals
for the catalogue without importing the translator.

Standard library and NumPy only. This is the one core module that db/ may import (an import
contract holds that), so a fact both sides need is written here once.
"""

from __future__ import annotations

import hashlib

import numpy as np

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
PNEUMONIA = CLASS_NAMES.index("PNEUMONIA")
PLACEHOLDER_VERSION = "placeholder-untrained"  # the untrained stand-in model; never shown as a prediction

DIFFICULTIES = ("easy", "medium", "hard")
REPORT_SOURCES = ("gemini", "offline")
ROLES = ("instructor", "student", "reviewer")
QUIZ_MODES = ("diagnose", "versus", "shortcut", "trust")

# Who may make each change to the library: the one permission table. db.permissions.require checks it
# inside every write, against the roles the library holds at that moment (an instructor holds every role;
# ROLES: any active, signed-in user). Pages also hide what a user may not do; that is a courtesy, this is
# the rule. The command line and the server's own jobs act as the machine operator (db.operator).
WRITES: dict[str, tuple[str, ...]] = {
    # teaching sets: curated in the Case Gallery; reviewers collect cases in draft sets on Model Limits
    "create_set": ("instructor", "reviewer"),
    "rename_set": ("instructor",),
    "describe_set": ("instructor",),
    "publish_set": ("instructor",),
    "delete_set": ("instructor",),
    "add_to_set": ("instructor", "reviewer"),  # a draft set
    "add_to_published_set": ("instructor",),  # students take quizzes on it
    "remove_from_set": ("instructor",),
    "move_in_set": ("instructor",),
    "reorder_set": ("instructor",),
    "import_set": ("instructor",),
    # cases: Analyze's "Save to library", the Case Gallery's case detail
    "save_case": ("instructor",),
    "update_case": ("instructor",),
    "add_case_tags": ("instructor",),
    "set_truth": ("instructor",),
    "set_reference": ("instructor",),
    "compute_predictions": ("instructor",),  # the installed model's predictions for cases that lack one
    # Model Limits
    "review_flag": ("reviewer",),
    "set_limit_tags": ("reviewer",),
    "compute_limits": ("reviewer",),
    # quizzes: a student's own attempts only (core.services.quiz also checks the attempt's owner)
    "start_quiz": ("student",),
    "answer_quiz": ("student",),
    "end_quiz": ("student",),
    # user administration
    "create_user": ("instructor",),
    "set_roles": ("instructor",),
    "set_active": ("instructor",),
    "reset_password": ("instructor",),
    # results computed for whoever may see them, kept for the next one: reports and explanation maps
    "store_report": ROLES,
    "store_explanation": ROLES,
    # the demo seed is the server's own job; a failed one may be restarted from a page
    "retry_demo_seed": ("instructor",),
}


def may(roles, write: str) -> bool:
    """Whether a user holding `roles` (their effective roles) may make the change `write` (WRITES)."""
    held = set(roles)
    return "instructor" in held or bool(held & set(WRITES[write]))


LIMIT_FLAGS = ("heatmap_on_marker", "heatmap_on_border", "heatmap_outside_lungs", "marker_dependent")
REVIEW_TAGS = ("R marker", "rib edge", "border", "diaphragm", "heart", "other")
VERDICTS = ("confirmed", "rejected")

# Older predictions have no uncertainty score: they count as uncertain within this distance of the threshold.
UNCERTAIN_MARGIN = 0.15
UNCERTAINTY_CUTOFF = 0.5  # core.reliability.uncertainty's score: ≥ 0.5 means the model said it was not sure

OUTCOMES = ("correct", "false_positive", "false_negative", "wrong")


def outcome(truth: str | None, predicted: str | None) -> str | None:
    """correct / false_positive / false_negative, or None without a ground truth or a prediction."""
    if truth is None or predicted is None:
        return None
    if truth == predicted:
        return "correct"
    return "false_positive" if predicted == CLASS_NAMES[PNEUMONIA] else "false_negative"


def pixel_hash(pixels: np.ndarray) -> str:
    """Identity of a picture: its decoded 8-bit pixels and shape (file metadata plays no part)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    digest = hashlib.sha256(f"{pixels.shape[0]}x{pixels.shape[1]}:".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def N_(message: str) -> str:
    """Mark a message for extraction without translating it (babel's default keyword); `_()` translates it later."""
    return message


class Term(str):
    """A catalogue word passed as a parameter of a Worded message (e.g. "PNG, JPEG or DICOM"): translated with it."""


class Worded(Exception):
    """An exception whose text is a catalogue message: `message` (English, N_-marked, named {placeholders})
    and `params`. str() is the English text (the CLI's); pages show `_(exc.message, **exc.params)`."""

    def __init__(self, message: str, /, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(message.format(**params) if params else message)
