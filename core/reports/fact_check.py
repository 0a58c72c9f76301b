"""Hallucination guard: a report is checked against its facts before anyone reads it as trustworthy.

Checks: the stated class and probability match the facts; the non-diagnostic notice is present;
the summary does not assert the other class; every probability-like percentage matches a fact;
no disease other than pneumonia is asserted as a finding. A failing report is kept and shown
flagged with these reasons — never silently accepted, never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.explain.limits import mainly_on_lungs
from core.i18n import N_, translator
from core.reports.content import SECTION_KEYS, ReportSections
from core.reports.facts import SMALL_SIDE_PX, ReportFacts
from core.reports.offline import MOST_OF_THE_MASS, ZONE_WORDS

# Each reason is one of these templates, filled with figures formatted here: stored as plain English text
# with the report, and shown in a reader's language by matching the template (reason_in).
WRONG_CLASS = N_("states the class {stated}; the model's output is {label}")
NO_CLASS = N_("states no class; the model's output is {label}")
WRONG_PROBABILITY = N_("states P(pneumonia) = {stated}; the facts say {probability}")
NO_NOTICE = N_("the non-diagnostic notice is missing")
SUMMARY_WITHOUT_OUTPUT = N_("the summary does not name the model's output ({label})")
SUMMARY_WITH_ALTERNATIVE = N_("the summary presents {alternative} as the model's output; the output is {label}")
EMPTY_SECTION = N_("section {section} is empty")
NOT_MAINLY_ON_LUNGS = N_("says the heatmap lies mainly on the lungs, but only {share} of it does (not more than half)")
UNKNOWN_PROBABILITY = N_("quotes {quoted} as a probability that matches no fact")
UNKNOWN_FIGURE = N_("quotes {quoted} as a figure that matches no fact")
OTHER_CONDITION = N_(
    "asserts a condition other than pneumonia ({condition}): the model knows only NORMAL and PNEUMONIA"
)
NOT_CLOSE = N_(
    "says the probability is close to the threshold, but P(pneumonia) {probability} lies outside the uncertain band "
    "{low}–{high}"
)
NOT_WELL_AWAY = N_(
    "says the probability is well away from the threshold, but P(pneumonia) {probability} lies inside the uncertain "
    "band {low}–{high}"
)
NOT_UPSCALED = N_(
    "says the model sees an upscaled picture, but the image is {width}×{height} px (not smaller than the model "
    "input, {side} px on a side)"
)
NOT_MOST = N_(
    "says most of the heatmap mass lies in {zones}, but those zones hold only {share} of it (not more than half)"
)
REASONS = (
    WRONG_CLASS, NO_CLASS, WRONG_PROBABILITY, NO_NOTICE, SUMMARY_WITHOUT_OUTPUT, SUMMARY_WITH_ALTERNATIVE,
    EMPTY_SECTION, NOT_MAINLY_ON_LUNGS, UNKNOWN_PROBABILITY, UNKNOWN_FIGURE, OTHER_CONDITION, NOT_CLOSE,
    NOT_WELL_AWAY, NOT_UPSCALED, NOT_MOST,
)  # fmt: skip


def reason_in(language: str | None, reason: str) -> str:
    """A fact-check reason (stored in English) in `language`."""
    return translator(language).from_template(reason, *REASONS)


PROBABILITY_TOLERANCE = 0.01  # the model may round 87.34% to 87.3% or 87%
PERCENT_TOLERANCE = 0.011

NOTICE_PATTERNS = (
    r"does not diagnose",
    r"not (?:a |an )?(?:medical |clinical )?diagnos",
    r"non-?diagnostic",
    r"cannot diagnose",
    r"no diagnosis",
    r"not for (?:clinical )?diagnos",
    r"not intended (?:for|to) diagnos",
    r"진단이 아닙",
    r"진단이 아니",
    r"진단(?:을|은)? ?하지 않",
    r"진단(?:할|을 할) 수 없",
    r"진단용이 아",
    r"비진단",
)
PROBABILITY_WORDS = re.compile(r"probab|likelihood|chance|confiden|확률|가능성|신뢰", re.I)
OTHER_DISEASES = (
    r"tuberculosis",
    r"\btb\b",
    r"covid",
    r"coronavirus",
    r"cancer",
    r"carcinoma",
    r"malignan",
    r"tumou?r",
    r"neoplas",
    r"nodules?\b",
    r"effusion",
    r"pneumothorax",
    r"cardiomegaly",
    r"o?edema\b",
    r"fractur",
    r"atelectasis",
    r"emphysema",
    r"fibrosis",
    r"bronchiectasis",
    r"abscess",
    r"sarcoid",
    r"lymphoma",
    r"metasta",
    r"\bcopd\b",
    r"asthma",
    r"bronchiolitis",
    r"heart failure",
    r"pleural thickening",
    r"결핵",
    r"코로나",
    r"폐암",
    r"종양",
    r"결절",
    r"흉수",
    r"흉막 ?삼출",
    r"기흉",
    r"심(?:장)?비대",
    r"부종",
    r"골절",
    r"무기폐",
    r"폐기종",
    r"섬유화",
    r"기관지 ?확장",
    r"농양",
    r"전이",
)
DISEASE_RE = re.compile("|".join(OTHER_DISEASES), re.I)
# A disease named in a sentence with one of these is a limitation or a differential, not a finding.
NEGATION_RE = re.compile(
    r"\b(?:no|not|cannot|can't|can ?not|does ?n[o']t|without|rule[sd]? out|exclud\w*|other than|only|neither|nor|"
    r"unable|never|isn't|aren't|beyond|trained)\b|않|없|못|아닌|아니|배제|감별|외의|이외|뿐",
    re.I,
)
# "Mainly on the lungs" is said only of a map with more than half its mass there (core.explain.limits).
MAINLY_ON_LUNGS_RE = re.compile(
    r"\b(?:mainly|mostly|largely|predominantly|primarily|chiefly)\b[^.]*\blungs?\b|주로 폐|대부분[^.]*폐", re.I
)
OUTSIDE_RE = re.compile(r"outside|beyond|바깥|밖", re.I)
# "Close to the threshold" is said only of a probability inside the uncertain band; "well away" only outside it.
CLOSE_TO_THRESHOLD_RE = re.compile(
    r"\b(?:close|near)(?:ly)? to the (?:decision )?(?:threshold|cut-?off)|\bnear the (?:decision )?threshold|"
    r"임계값에 가까|임계값과 가까|임계값 근처",
    re.I,
)
WELL_AWAY_RE = re.compile(
    r"\b(?:well|far) (?:away )?from the (?:decision )?(?:threshold|cut-?off)|임계값에서 (?:충분히|멀리) 떨어", re.I
)
# "Upscaled" only of an original smaller than the model input.
UPSCALED_RE = re.compile(
    r"\bup-?scal\w*|\b(?:image|picture|film|radiograph) is (?:too |very )?small\b|확대된 영상|확대해|영상이 작",
    re.I,
)
# "Most of its mass lies in X and Y" only when the zones named hold more than half of it.
MOST_MASS_RE = re.compile(
    r"\b(?:most|the bulk|the majority) of (?:its|the)(?: heatmap(?:'s)?| Grad-CAM(?:'s)?)? (?:mass|heat|weight)|"
    r"질량의 대부분|대부분의 질량",
    re.I,
)
ZONE_RE = {
    "en": re.compile(r"\b(right|left)[ -](upper|middle|lower)\b|\b(upper|middle|lower)[ -](right|left)\b", re.I),
    "ko": re.compile(r"(우측|좌측) ?(상부|중부|하부)"),
}
CLASS_EN = {"NORMAL": "normal", "PNEUMONIA": "pneumonia"}
CLASS_KO = {"NORMAL": "정상", "PNEUMONIA": "폐렴"}


@dataclass(frozen=True)
class GuardResult:
    passed: bool
    reasons: tuple[str, ...]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?。])\s+|\n+", text) if s.strip()]


def _asserts_class(text: str, cls: str) -> bool:
    en, ko = CLASS_EN[cls], CLASS_KO[cls]
    patterns = (
        rf"\b(?:classif\w*|predict\w*|output|label\w*|categori[sz]\w*|read)\b[^.\n]{{0,20}}?\b(?:as|is|was|:)\s+(?:an?\s+)?[\"'“(]*{en}\b",
        rf"(?:{ko}|{en})\s*(?:\(\w+\))?\s*(?:으로|로|이라고|라고)\s*(?:분류|예측|판단|출력)",
        rf"출력(?:은|는|값은)\s*[\"'“(]*(?:{ko}|{en})",
    )
    return any(re.search(p, text, re.I) for p in patterns)


def _mentions_class(text: str, cls: str) -> bool:
    return bool(re.search(rf"\b{CLASS_EN[cls]}\b|{CLASS_KO[cls]}", text, re.I))


def check_report(report: ReportSections, facts: ReportFacts) -> GuardResult:
    reasons: list[str] = []
    text = report.text()

    stated = (report.stated_label or "").strip().upper()
    if stated != facts.label:
        reasons.append(
            WRONG_CLASS.format(stated=stated, label=facts.label) if stated else NO_CLASS.format(label=facts.label)
        )
    p = report.stated_probability_pneumonia
    p = p / 100 if p is not None and 1.0 < p <= 100.0 else p  # a percentage in the number field
    if p is None or abs(p - facts.probability_pneumonia) > PROBABILITY_TOLERANCE:
        reasons.append(
            WRONG_PROBABILITY.format(
                stated=report.stated_probability_pneumonia, probability=f"{facts.probability_pneumonia:.4f}"
            )
        )

    if not any(re.search(pat, text, re.I) for pat in NOTICE_PATTERNS):
        reasons.append(NO_NOTICE)
    if not _mentions_class(report.summary, facts.label):
        reasons.append(SUMMARY_WITHOUT_OUTPUT.format(label=facts.label))
    if _asserts_class(report.summary, facts.alternative):
        reasons.append(SUMMARY_WITH_ALTERNATIVE.format(alternative=facts.alternative, label=facts.label))

    reasons += _fact_checks(text, facts)

    for key in SECTION_KEYS:
        if not getattr(report, key).strip():
            reasons.append(EMPTY_SECTION.format(section=key))
    unique = tuple(dict.fromkeys(reasons))
    return GuardResult(passed=not unique, reasons=unique)


def _fact_checks(text: str, facts: ReportFacts) -> list[str]:
    """Numbers and named conditions, sentence by sentence (shared by reports and "Ask why" answers)."""
    reasons: list[str] = []
    known = facts.known_fractions()
    probability_values = (
        facts.probability_pneumonia,
        1 - facts.probability_pneumonia,
        facts.threshold,
        *facts.uncertainty_band,  # the band's limits are probabilities too
    )
    lung = facts.metric("lung")
    for sentence in _sentences(text):
        reasons += _conditional_claims(sentence, facts)
        if (
            lung is not None
            and not mainly_on_lungs(lung[1])
            and MAINLY_ON_LUNGS_RE.search(sentence)
            and not OUTSIDE_RE.search(sentence)
            and not NEGATION_RE.search(sentence)
        ):
            reasons.append(NOT_MAINLY_ON_LUNGS.format(share=f"{lung[1]:.1%}"))
        for match in re.finditer(r"(\d+(?:[.,]\d+)?)\s*%", sentence):
            value = float(match.group(1).replace(",", ".")) / 100
            pool = probability_values if PROBABILITY_WORDS.search(sentence) else known
            if not any(abs(value - k) <= PERCENT_TOLERANCE for k in pool):
                unknown = UNKNOWN_PROBABILITY if pool is probability_values else UNKNOWN_FIGURE
                reasons.append(unknown.format(quoted=match.group(0)))
        disease = DISEASE_RE.search(sentence)
        if disease and not NEGATION_RE.search(sentence):
            reasons.append(OTHER_CONDITION.format(condition=repr(disease.group(0))))
    return reasons


def _named_zones(sentence: str) -> set[str]:
    """The CAM zones (right_lower, …) a sentence names, in either language."""
    found = set()
    for match in ZONE_RE["en"].finditer(sentence):
        side, band = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        found.add(f"{side.lower()}_{band.lower()}")
    to_code = {word: code for code, word in ZONE_WORDS["ko"].items()}
    for match in ZONE_RE["ko"].finditer(sentence):
        found.add(f"{to_code[match.group(1)]}_{to_code[match.group(2)]}")
    return found


def _conditional_claims(sentence: str, facts: ReportFacts) -> list[str]:
    """The sentences the offline template says only when they hold, checked wherever they appear."""
    reasons = []
    negated = bool(NEGATION_RE.search(sentence))
    low, high = facts.uncertainty_band
    figures = dict(probability=f"{facts.probability_pneumonia:.1%}", low=f"{low:.1%}", high=f"{high:.1%}")
    if CLOSE_TO_THRESHOLD_RE.search(sentence) and not negated and not facts.in_uncertain_band:
        reasons.append(NOT_CLOSE.format(**figures))
    if WELL_AWAY_RE.search(sentence) and not negated and facts.in_uncertain_band:
        reasons.append(NOT_WELL_AWAY.format(**figures))
    if UPSCALED_RE.search(sentence) and not negated and not facts.upscaled:
        reasons.append(NOT_UPSCALED.format(width=facts.image_width, height=facts.image_height, side=SMALL_SIDE_PX))
    if MOST_MASS_RE.search(sentence) and not negated:
        shares = dict(facts.cam_zone_share)
        named = _named_zones(sentence) & shares.keys()
        total = sum(shares[z] for z in named)
        if named and total <= MOST_OF_THE_MASS:
            reasons.append(NOT_MOST.format(zones=", ".join(sorted(named)), share=f"{total:.1%}"))
    return reasons


def check_answer(text: str, facts: ReportFacts) -> GuardResult:
    """The fact checks for a free-text answer (no sections, no notice required)."""
    reasons = tuple(dict.fromkeys(_fact_checks(text, facts)))
    return GuardResult(passed=not reasons, reasons=reasons)
