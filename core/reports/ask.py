""" "Ask why": a short question-and-answer about one case, grounded on its facts.

With Gemini the answer is fact-checked like a report; without it (or when the call or the check
fails) the answer is assembled from the facts by topic, and says why it is offline.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from core.formatting import percent
from core.i18n import N_
from core.korean import josa
from core.reports.content import CLASS_WORDS, check_language
from core.reports.fact_check import check_answer
from core.reports.facts import ReportFacts
from core.reports.gemini import GeminiFailure, GeminiSettings, ask_gemini
from core.reports.offline import GUARD_WORDS, pct, quality_words, uncertainty_reasons_text, zone_name
from core.reports.redaction import redact

logger = logging.getLogger("core.reports.ask")
MAX_QUESTION = 500
NO_KEY = N_("no Gemini API key is set")  # why an answer is offline (a report names the variables too)
FAILED_CHECK = N_("Gemini's answer failed the fact check: {reasons}")  # the fact check's reasons, "; "-joined


@dataclass(frozen=True)
class Answer:
    text: str
    source: str  # "gemini" | "offline"
    reason: str | None  # why offline, if it is


TOPICS = (  # (topic, pattern) in the order answers are given
    ("shortcut", r"shortcut|marker|border|edge|corner|letter|text|지름길|표지|테두리|가장자리|글자"),
    ("heatmap", r"heat ?map|grad-?cam|\bcam\b|where|look|attend|focus|zone|region|히트맵|어디|영역|주목|보았|봤"),
    ("uncertain", r"uncertain|sure|confiden|trust|reliab|불확실|확신|믿|신뢰"),
    ("quality", r"quality|small|contrast|colou?r|resolution|input|품질|대비|해상도|작|컬러"),
    ("diagnosis", r"diagnos|disease|doctor|clinic|treat|진단|질병|의사|치료"),
    (
        "why",
        r"why|reason|probab|predict|output|label|class|threshold|normal|pneumonia|왜|이유|확률|결과|예측|분류|임계|정상|폐렴",
    ),
)


def _topic_answer(topic: str, f: ReportFacts, lang: str) -> str:
    ko = lang == "ko"
    cls = CLASS_WORDS[lang][f.label]
    if topic == "why":
        if ko:
            return (
                f"모델은 보정된 폐렴 확률을 {josa(percent(f.probability_pneumonia), '로')} 계산했고, "
                f"결정 임계값 {josa(pct(f.threshold), '와')} 비교하여 {josa(cls, '를')} 출력했습니다. 모델은 영상 전체의 특징을 합산해 두 클래스 중 하나를 고를 뿐, 이유를 말로 설명하지는 못합니다."
            )
        side = "at or above" if f.probability_pneumonia >= f.threshold else "below"
        return (
            f"The model computed a calibrated probability of pneumonia of {percent(f.probability_pneumonia)}, which is {side} "
            f"the decision threshold of {pct(f.threshold)}, so it output {cls}. It sums learned image features into a "
            "score for two classes; it cannot state reasons in words."
        )
    if topic == "heatmap":
        if f.cam_peak_zone is None:
            return "Grad-CAM 히트맵이 비어 있습니다." if ko else "The Grad-CAM heatmap is empty for this case."
        top = f.cam_zone_share[0]
        if ko:
            return (
                f"Grad-CAM 히트맵의 최고점은 {zone_name(f.cam_peak_zone, 'ko')}에 있고, 가장 큰 질량은 {zone_name(top[0], 'ko')}"
                f"({pct(top[1])})에 있습니다. Grad-CAM은 7×7 해상도로 점수를 높인 영역을 보여줄 뿐, 병변이나 질병의 위치를 보여주지 않습니다."
            )
        return (
            f"The Grad-CAM heatmap peaks in the {zone_name(f.cam_peak_zone, 'en')} and its largest share lies in the "
            f"{zone_name(top[0], 'en')} ({pct(top[1])}). Grad-CAM shows which regions raised the score at 7×7 resolution; "
            "it does not outline a lesion or show where disease is."
        )
    if topic == "uncertain":
        reasons = uncertainty_reasons_text(f, lang)
        low, high = (pct(x) for x in f.uncertainty_band)
        if ko:
            if reasons:
                return f"모델은 이 사례에서 불확실합니다(이유: {reasons}). 확신이 높아도 틀릴 수 있습니다."
            return (
                f"모델은 이 사례에서 비교적 확신합니다(폐렴 확률이 불확실 구간 {low}–{high} 밖에 있음). "
                "확신이 높아도 틀릴 수 있습니다."
            )
        if reasons:
            return f"The model is uncertain on this case: {reasons}. A confident model can still be wrong."
        return (
            f"The model is fairly sure on this case: P(pneumonia) lies outside the uncertain band {low}–{high}. "
            "A confident model can still be wrong."
        )
    if topic == "shortcut":
        marker = f.metric("marker")
        if ko:
            text = f"히트맵 질량의 {josa(pct(f.cam_border_share), '가')} 영상 가장자리에 있습니다."
            if marker:
                text += f" 영상 내 표지(마커) 위의 비율은 {pct(marker[1])}입니다."
            return (
                text
                + " 영상 가장자리나 표지에 몰린 히트맵은 모델이 폐가 아닌 단서에 기대는 지름길 학습의 신호일 수 있습니다."
            )
        text = f"{pct(f.cam_border_share)} of the heatmap mass lies in the outer border of the image."
        if marker:
            text += f" The share on burned-in text markers is {pct(marker[1])}."
        return text + " Mass on borders or markers can mean the model leans on a shortcut rather than the lungs."
    if topic == "quality":
        flags = "; ".join(quality_words(f, lang)) or ("없음" if ko else "none")
        guard = GUARD_WORDS[lang].get(f.guard_verdict, GUARD_WORDS[lang]["not_checked"])
        if ko:
            return f"품질 경고: {flags}. {guard} 영상 크기 {f.image_width}×{f.image_height} px."
        return f"Quality flags: {flags}. {guard} Image size {f.image_width}×{f.image_height} px."
    # diagnosis
    if ko:
        return "이 도구는 진단하지 않습니다. 모델은 정상과 폐렴 두 클래스만 알며, 임상적 판단은 의료진의 몫입니다."
    return (
        "This tool does not diagnose. The model knows only the two classes NORMAL and PNEUMONIA; "
        "clinical questions belong to a clinician."
    )


def offline_answer(facts: ReportFacts, question: str, language: str) -> str:
    lang = check_language(language)
    q = question.lower()
    topics = [t for t, pattern in TOPICS if re.search(pattern, q)] or ["why", "heatmap"]
    return " ".join(_topic_answer(t, facts, lang) for t in topics[:2])


def ask_why(facts: ReportFacts, question: str, language: str, settings: GeminiSettings | None = None) -> Answer:
    question = (question or "").strip()[:MAX_QUESTION]
    if not question:
        raise ValueError("the question is empty")
    if settings is None or not settings.online:
        return Answer(offline_answer(facts, question, language), "offline", NO_KEY)
    try:
        text = ask_gemini(settings, facts, question, language)
    except GeminiFailure as exc:
        logger.warning("Ask-why fell back to the offline answer: %s", exc.reason)
        return Answer(offline_answer(facts, question, language), "offline", exc.reason)
    check = check_answer(text, facts)
    if not check.passed:
        reason = FAILED_CHECK.format(reasons="; ".join(check.reasons))
        logger.warning("Ask-why: %s", reason)
        return Answer(offline_answer(facts, question, language), "offline", reason)
    return Answer(redact(text), "gemini", None)
