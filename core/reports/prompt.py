"""The prompt, built from the facts alone. Change the wording → bump PROMPT_VERSION (it keys the cache)."""

from __future__ import annotations

import json

from core.formatting import percent
from core.reports.content import NOTICE, check_language
from core.reports.facts import ReportFacts

# v4: the one rule for "mainly on the lungs"; v5: the threshold, upscaling and "most of its mass" rules,
# the uncertainty reasons as codes and whole clauses
PROMPT_VERSION = "report-v5"
LANGUAGE_NAMES = {"en": "English", "ko": "Korean (한국어)"}

SYSTEM_INSTRUCTION = """\
You write short educational reports for a teaching tool that shows medical students how a chest \
X-ray classifier (a ResNet34 trained on pediatric chest X-rays labelled NORMAL or PNEUMONIA) reaches \
its output and where it can fail. The tool does not diagnose. You never see the image: you work only \
from the JSON facts you are given, which the software measured.

Write the four sections of the response schema:
1. summary — the model output class and the calibrated probability of pneumonia, with whether the \
model is uncertain; it must contain this notice, verbatim: "{notice}"
2. attention — where the Grad-CAM heatmap puts its mass (zones, outer border share, lung or marker \
shares when given) and its caveats: Grad-CAM shows which image regions raised the class score at \
7x7 resolution; it is not a lesion outline and does not show where disease is; mass on the border, \
on text markers or outside the lungs suggests a shortcut. Say that the heatmap lies mainly (or mostly) on the lungs only when the lung share in the facts is more than half; otherwise say that most of it lies outside the lungs.
3. further_checks — what a clinician would correlate with (history, examination, other views, \
follow-up) before drawing any conclusion; phrase them as suggestions for learning.
4. quality_cautions — the image-quality flags and the input-check verdict from the facts, and the \
labelling limits of the training data (pediatric images from one centre; labels NORMAL/PNEUMONIA only).

Say that the probability is close to the threshold only when probability_in_uncertain_band is true; \
when the model is uncertain for another reason, give that reason (uncertainty_reasons, uncertainty_basis). \
Say that the model sees an upscaled (enlarged) picture only when image.smaller_than_model_input is true. \
Say that most of the heatmap mass lies in some zones only when those zones' shares add up to more than half; \
otherwise name them as the largest shares.

Rules: state exactly the class and probability in the facts and fill stated_label and \
stated_probability_pneumonia with them; quote only numbers that appear in the facts (as percentages \
with one decimal, exactly as written there: never write 100% or 0%); do not name any disease or finding other than pneumonia as present — the model \
knows only these two classes; do not invent patient details; keep each section to 2-4 sentences; \
write in {language}."""

ASK_INSTRUCTION = """\
You answer a student's short question about one chest X-ray case in a teaching tool that does not \
diagnose. Use only the JSON facts given (measured by the software); you never see the image. Explain \
the model's reasons (probability, threshold, uncertainty) and what Grad-CAM can and cannot show. \
Quote only numbers that appear in the facts; name no disease other than pneumonia as present; if the \
facts cannot answer the question, say so. Answer in {language}, in at most 4 sentences."""


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def facts_for_prompt(facts: ReportFacts) -> dict:
    """The facts with percentages pre-formatted, so the model copies numbers instead of computing them."""
    return {
        "model_version": facts.model_version,
        "model_output_class": facts.label,
        "probability_of_pneumonia": percent(facts.probability_pneumonia),
        "probability_of_output_class": percent(facts.label_probability),
        "alternative_class": facts.alternative,
        "decision_threshold": _pct(facts.threshold),
        "uncertain": facts.not_sure,
        "uncertainty_basis": facts.uncertainty_basis,
        "uncertainty_reasons": list(facts.reasons_uncertain),
        "uncertain_band": [_pct(v) for v in facts.uncertainty_band],
        "probability_in_uncertain_band": facts.in_uncertain_band,
        "input_check": {"verdict": facts.guard_verdict, "detail": facts.guard_detail},
        "grad_cam": {
            "class_explained": facts.cam_target,
            "peak_zone": facts.cam_peak_zone,
            "zone_share_largest_first": {z: _pct(v) for z, v in facts.cam_zone_share},
            "right_left_share": {k: _pct(v) for k, v in facts.side_share.items()},
            "upper_middle_lower_share": {k: _pct(v) for k, v in facts.band_share.items()},
            "outer_border_share": _pct(facts.cam_border_share),
            "other_metrics": {k: _pct(v) for k, v in facts.cam_metrics},
            "shortcut_flags": list(facts.shortcut_flags),
            "sides": "patient's sides (on a PA film the patient's right is the viewer's left)",
        },
        "image": {
            "width_px": facts.image_width,
            "height_px": facts.image_height,
            "format": facts.source_format,
            "quality_flags": [q for q in facts.quality_flags if q != "small" or facts.upscaled],
            "smaller_than_model_input": facts.upscaled,
        },
    }


def build_prompt(facts: ReportFacts, language: str) -> tuple[str, str]:
    """(system instruction, user prompt)."""
    language = check_language(language)
    system = SYSTEM_INSTRUCTION.format(notice=NOTICE[language], language=LANGUAGE_NAMES[language])
    user = "Facts (JSON):\n" + json.dumps(facts_for_prompt(facts), ensure_ascii=False, indent=1)
    return system, user


def build_ask_prompt(facts: ReportFacts, question: str, language: str) -> tuple[str, str]:
    language = check_language(language)
    system = ASK_INSTRUCTION.format(language=LANGUAGE_NAMES[language])
    user = (
        "Facts (JSON):\n"
        + json.dumps(facts_for_prompt(facts), ensure_ascii=False, indent=1)
        + "\n\nQuestion: "
        + question.strip()[:500]
    )
    return system, user
