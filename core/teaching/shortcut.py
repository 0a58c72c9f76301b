""" "Spot the shortcut": what a heatmap looked at, from the limits flags and the reviewers' word.

The student sees a Grad-CAM overlay and says where the model looked. The expected answer comes
from the case's shortcut flags (core.explain.limits) unless a reviewer rejected them, plus the tags
reviewers added. A reviewer's tag or confirmation outranks the automatic flag; a rejected flag
does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.explain.limits import mainly_on_lungs
from core.i18n import N_

LUNGS, MARKER, BORDER, OUTSIDE = "lungs", "marker", "border", "outside"
CHOICES = {  # N_-marked: pages show _(CHOICES[answer])
    LUNGS: N_("At the lungs"),
    MARKER: N_("At a burned-in marker (letter, text)"),
    BORDER: N_("At an edge or the image border"),
    OUTSIDE: N_("Elsewhere outside the lungs (heart, diaphragm, abdomen, neck)"),
}
# The parts of ShortcutTruth.basis (joined by "; "; stored with the answer in English). A page shows
# each part in its language by matching these templates (pages/quiz.py).
BASIS_MOSTLY_OUTSIDE = N_("only {share} of the heatmap lies on the lung fields (not more than half)")
BASIS_FLAGS = N_("flags: {flags}")
BASIS_REJECTED = N_("rejected by a reviewer: {flags}")
BASIS_TAGS = N_("reviewer tags: {tags}")
BASIS_NOTHING = N_("no shortcut flag or reviewer tag")
FLAG_CATEGORY = {
    "heatmap_on_marker": MARKER,
    "marker_dependent": MARKER,
    "heatmap_on_border": BORDER,
    "heatmap_outside_lungs": OUTSIDE,
}
TAG_CATEGORY = {
    "R marker": MARKER,
    "rib edge": BORDER,
    "border": BORDER,
    "diaphragm": OUTSIDE,
    "heart": OUTSIDE,
    "other": OUTSIDE,
}


@dataclass(frozen=True)
class ShortcutTruth:
    categories: frozenset[str]  # empty: the heatmap sat on the lungs
    basis: str  # in words, for the reveal

    @property
    def answer_set(self) -> frozenset[str]:
        return self.categories or frozenset({LUNGS})

    def is_correct(self, answer: str) -> bool:
        if answer not in CHOICES:
            raise ValueError(f"unknown answer {answer!r}; expected one of {', '.join(CHOICES)}")
        return answer in self.answer_set


def shortcut_truth(
    flags: list[str],
    rejected: list[str] | tuple = (),
    tags: list[str] | tuple = (),
    lung_share: float | None = None,
) -> ShortcutTruth:
    """Expected answers from fired flags (minus those a reviewer rejected) and reviewer tags.

    "At the lungs" is the answer only for a map that lies mainly on them (core.explain.limits'
    one rule): a map with no flag but half or less of its mass on the lungs sat elsewhere.
    """
    kept = [f for f in flags if f not in set(rejected)]
    categories = {FLAG_CATEGORY[f] for f in kept if f in FLAG_CATEGORY}
    categories |= {TAG_CATEGORY[t] for t in tags if t in TAG_CATEGORY}
    parts = []
    if not categories and lung_share is not None and not mainly_on_lungs(lung_share):
        categories = {OUTSIDE}
        parts.append(BASIS_MOSTLY_OUTSIDE.format(share=f"{lung_share:.0%}"))
    if kept:
        parts.append(BASIS_FLAGS.format(flags=", ".join(f.replace("_", " ") for f in kept)))
    if rejected:
        parts.append(BASIS_REJECTED.format(flags=", ".join(f.replace("_", " ") for f in rejected)))
    if tags:
        parts.append(BASIS_TAGS.format(tags=", ".join(tags)))
    return ShortcutTruth(frozenset(categories), "; ".join(parts) or BASIS_NOTHING)
