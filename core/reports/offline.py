"""The offline report: a deterministic template over the same facts, same four sections, both languages.

Used when no API key is set or when Gemini fails; the same facts always give the same text.
"""

from __future__ import annotations

from core.explain.limits import mainly_on_lungs
from core.formatting import percent
from core.korean import josa
from core.reports.content import CLASS_WORDS, NOTICE, ReportSections, check_language
from core.reports.facts import (
    IN_BAND,
    INPUT_CHECK_FLAGGED,
    OTHER_REASON,
    SMALL_SIDE_PX,
    UNLIKE_TRAINING,
    UNUSUAL_IMAGE,
    ReportFacts,
)

# Stands in for the LLM model name in records and cache keys. v2: each conditional sentence only when
# it holds (close to the threshold, upscaled, "most of its mass"), Korean particles that agree.
OFFLINE_MODEL = "offline-template-v2"
MOST_OF_THE_MASS = 0.5  # "most of its mass lies in X and Y" only when X + Y hold more than this

ZONE_WORDS = {
    "en": {"right": "right", "left": "left", "upper": "upper", "middle": "middle", "lower": "lower"},
    "ko": {"right": "우측", "left": "좌측", "upper": "상부", "middle": "중부", "lower": "하부"},
}


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def zone_name(zone: str, language: str) -> str:
    words = ZONE_WORDS[language]
    side, band = zone.split("_", 1)
    if language == "ko":
        return f"{words.get(side, side)} {words.get(band, band)}"
    return f"{words.get(side, side)} {words.get(band, band)} zone"


# Why the model is not sure, one clause per reason code (core.reports.facts.UNCERTAINTY_REASONS).
REASON_WORDS = {
    "en": {
        IN_BAND: "P(pneumonia) lies inside the uncertain band {low}–{high} around the decision threshold",
        INPUT_CHECK_FLAGGED: "the input check did not accept this image as a frontal chest X-ray, "
        "and it was analysed anyway",
        UNLIKE_TRAINING: "this chest X-ray is unlike the training films (pediatric, one centre)",
        UNUSUAL_IMAGE: "the image is more unusual than {unusual} of validation X-rays",
        OTHER_REASON: "{basis}",
    },
    "ko": {
        IN_BAND: "폐렴 확률이 결정 임계값 주변의 불확실 구간 {low}–{high} 안에 있음",
        INPUT_CHECK_FLAGGED: "입력 검사에서 정면 흉부 X선으로 받아들여지지 않았으나 분석을 강행함",
        UNLIKE_TRAINING: "학습 데이터(한 기관의 소아 영상)와 다른 흉부 X선임",
        UNUSUAL_IMAGE: "검증용 X선 영상의 {unusual}보다 특이한 영상임",
        OTHER_REASON: "모델의 불확실성 판단",
    },
}
# Section 3's caution, one sentence per reason: "close to the threshold" only for a probability in the band.
CAUTION_WORDS = {
    "en": {
        IN_BAND: "With the probability this close to the threshold, treat the output with extra caution.",
        INPUT_CHECK_FLAGGED: "The input check did not accept this image as a frontal chest X-ray, "
        "so treat the output with extra caution.",
        UNLIKE_TRAINING: "This X-ray is unlike the training films, so treat the output with extra caution.",
        UNUSUAL_IMAGE: "The image is more unusual than nearly all validation X-rays, "
        "so treat the output with extra caution.",
        OTHER_REASON: "The model is uncertain on this image, so treat the output with extra caution.",
    },
    "ko": {
        IN_BAND: "확률이 임계값에 가까우므로 이 출력은 특히 신중하게 다루어야 합니다.",
        INPUT_CHECK_FLAGGED: "입력 검사에서 정면 흉부 X선으로 받아들여지지 않은 영상이므로 이 출력은 특히 신중하게 다루어야 합니다.",
        UNLIKE_TRAINING: "학습 데이터와 다른 영상이므로 이 출력은 특히 신중하게 다루어야 합니다.",
        UNUSUAL_IMAGE: "검증용 영상 대부분보다 특이한 영상이므로 이 출력은 특히 신중하게 다루어야 합니다.",
        OTHER_REASON: "모델이 불확실하다고 판단했으므로 이 출력은 특히 신중하게 다루어야 합니다.",
    },
}


def uncertainty_reasons_text(f: ReportFacts, lang: str) -> str:
    """Why the model is not sure, in one line of `lang` ("" when it is sure)."""
    low, high = f.uncertainty_band
    unusual = pct(f.uncertainty_figures[2]) if len(f.uncertainty_figures) >= 3 else None
    clauses = []
    for code in f.reasons_uncertain:
        words = REASON_WORDS[lang][code]
        if code == UNUSUAL_IMAGE and unusual is None:
            words = words.replace("{unusual}", "nearly all" if lang == "en" else "대부분")
        clauses.append(words.format(low=pct(low), high=pct(high), unusual=unusual, basis=f.uncertainty_basis))
    return "; ".join(clauses)


def _summary(f: ReportFacts, lang: str) -> str:
    cls, alt = CLASS_WORDS[lang][f.label], CLASS_WORDS[lang][f.alternative]
    reasons = uncertainty_reasons_text(f, lang)
    if lang == "ko":
        sure = (
            f"모델의 판단은 불확실합니다(이유: {reasons})."
            if reasons
            else "결정 임계값에서 충분히 떨어져 있어 모델은 비교적 확신하고 있습니다."
        )
        return (
            f"모델의 출력은 {josa(cls, '이며')}, 보정된 폐렴 확률은 {percent(f.probability_pneumonia)}입니다"
            f"(결정 임계값 {pct(f.threshold)}, 다른 클래스는 {alt}). {sure} {NOTICE['ko']}"
        )
    sure = (
        f"The model is uncertain here: {reasons}."
        if reasons
        else "The probability is well away from the decision threshold, so the model is fairly sure of its output."
    )
    return (
        f"The model's output is {cls} with a calibrated probability of pneumonia of {percent(f.probability_pneumonia)} "
        f"(decision threshold {pct(f.threshold)}; the alternative class is {alt}). {sure} {NOTICE['en']}"
    )


FLAG_WORDS = {
    "en": {
        "heatmap_on_marker": "heatmap on a text marker",
        "heatmap_on_border": "heatmap on the image border",
        "heatmap_outside_lungs": "heatmap mostly outside the lungs",
        "marker_dependent": "prediction changes when the marker is erased",
    },
    "ko": {
        "heatmap_on_marker": "히트맵이 영상 내 표지(마커) 위에 있음",
        "heatmap_on_border": "히트맵이 영상 가장자리에 있음",
        "heatmap_outside_lungs": "히트맵이 주로 폐 바깥에 있음",
        "marker_dependent": "표지를 지우면 예측이 바뀜",
    },
}


ATTENTION_WORDS = {
    "en": {
        "empty": "The Grad-CAM heatmap is empty: no region raised this class's score.",
        "peak": "The Grad-CAM heatmap for {target} peaks in the {peak}; most of its mass lies in the {zones}, "
        "and {border} lies in the outer border of the image.",
        "peak_spread": "The Grad-CAM heatmap for {target} peaks in the {peak}; the largest shares are in the {zones}, "
        "and {border} lies in the outer border of the image.",
        "zone": "{zone} ({share})",
        "zone_join": "{first} and {second}",
        "lung": " The share of heatmap mass inside the lung fields is {share}.",
        "lung_mainly": " That is more than half: the heatmap lies mainly on the lungs.",
        "lung_elsewhere": " That is not more than half: most of the heatmap lies outside the lungs.",
        "marker": " The share on burned-in text markers is {share}.",
        "flags": " Shortcut flags raised: {flags}.",
        "caveat": " Grad-CAM shows which regions raised the class score, at 7×7 resolution; it is not an outline of a "
        "lesion and does not show where disease is. Mass on the border, on text markers or outside the lungs "
        "suggests a shortcut.",
    },
    "ko": {
        "empty": "Grad-CAM 히트맵이 비어 있습니다: 이 클래스의 점수를 높인 영역이 없습니다.",
        "peak": "{target} 클래스에 대한 Grad-CAM 히트맵의 최고점은 {peak}에 있고, 질량의 대부분은 {zones}에 있으며, "
        "영상 가장자리에 {border} 있습니다.",
        "peak_spread": "{target} 클래스에 대한 Grad-CAM 히트맵의 최고점은 {peak}에 있고, 가장 큰 비율은 {zones}에 있으며, "
        "영상 가장자리에 {border} 있습니다.",
        "zone": "{zone}({share})",
        "zone_join": "{first} {second}",
        "lung": " 폐야 안의 히트맵 비율은 {share}입니다.",
        "lung_mainly": " 절반을 넘으므로 히트맵은 주로 폐 위에 있습니다.",
        "lung_elsewhere": " 절반을 넘지 않으므로 히트맵의 대부분은 폐 바깥에 있습니다.",
        "marker": " 영상 내 표지(마커) 위의 비율은 {share}입니다.",
        "flags": " 지름길 경고: {flags}.",
        "caveat": " Grad-CAM은 7×7 해상도로 클래스 점수를 높인 영역을 보여줄 뿐, 병변의 윤곽이나 질병의 위치를 "
        "보여주지 않습니다. 영상 가장자리, 영상 내 표지(마커) 또는 폐 바깥에 몰린 히트맵은 지름길 학습(shortcut)의 신호일 수 있습니다.",
    },
}


def _attention(f: ReportFacts, lang: str) -> str:
    words = ATTENTION_WORDS[lang]
    if f.cam_peak_zone is None:
        text = words["empty"]
    else:
        top = f.cam_zone_share[:2]
        named = [words["zone"].format(zone=zone_name(z, lang), share=pct(v)) for z, v in top]
        if len(named) == 2:
            first = josa(named[0], "와") if lang == "ko" else named[0]
            zones = words["zone_join"].format(first=first, second=named[1])
        else:
            zones = "".join(named)
        mostly = sum(v for _, v in top) > MOST_OF_THE_MASS
        border = pct(f.cam_border_share)
        text = words["peak" if mostly else "peak_spread"].format(
            target=CLASS_WORDS[lang][f.cam_target],
            peak=zone_name(f.cam_peak_zone, lang),
            zones=zones,
            border=josa(border, "이") if lang == "ko" else border,
        )
    lung, marker = f.metric("lung"), f.metric("marker")
    if lung:
        text += words["lung"].format(share=pct(lung[1]))
        text += words["lung_mainly" if mainly_on_lungs(lung[1]) else "lung_elsewhere"]
    if marker:
        text += words["marker"].format(share=pct(marker[1]))
    if f.shortcut_flags:
        text += words["flags"].format(flags=", ".join(FLAG_WORDS[lang][x] for x in f.shortcut_flags))
    return text + words["caveat"]


def _checks(f: ReportFacts, lang: str) -> str:
    if lang == "ko":
        text = (
            "학습 목적으로, 임상의는 이 결과를 환자의 병력, 증상, 신체 진찰, 필요한 경우 다른 촬영 방향의 영상이나 추적 검사와 함께 해석할 것입니다."
            " 모델은 정상과 폐렴 두 클래스만 알며, 다른 상태는 판단하지 못합니다."
        )
    else:
        text = (
            "For learning: a clinician would read this output together with the history, symptoms, examination and, "
            "where needed, other views or follow-up imaging. The model knows only the two classes NORMAL and PNEUMONIA "
            "and says nothing about any other condition."
        )
    for code in f.reasons_uncertain:
        text += " " + CAUTION_WORDS[lang][code]
    return text


QUALITY_WORDS = {
    "en": {
        "small": f"the image is smaller than the model input ({SMALL_SIDE_PX} px on a side), "
        "so the model sees an upscaled picture",
        "low_contrast": "the image has low contrast",
        "colour": "the image is in colour, which radiographs are not (it may be a photo or screenshot)",
    },
    "ko": {
        "small": f"영상이 모델 입력 크기(한 변 {SMALL_SIDE_PX} px)보다 작아 모델은 확대된 영상을 봅니다",
        "low_contrast": "영상의 대비가 낮습니다",
        "colour": "영상이 컬러입니다(방사선 영상은 흑백이므로 사진이나 화면 캡처일 수 있습니다)",
    },
}
GUARD_WORDS = {
    "en": {
        "passed": "The input check accepted this image as a frontal chest X-ray.",
        "unlike_training": "The input check found a frontal chest X-ray that is unlike the training films "
        "(pediatric, one centre): the model's output on it is unreliable.",
        "failed": "The input check did NOT accept this image as a frontal chest X-ray; the output may be meaningless.",
        "overridden": "The input check did NOT accept this image as a frontal chest X-ray, and the user chose to analyse it anyway.",
        "not_checked": "No input check was run on this image.",
    },
    "ko": {
        "passed": "입력 검사는 이 영상을 정면 흉부 X선으로 받아들였습니다.",
        "unlike_training": "입력 검사 결과 정면 흉부 X선이지만 학습 데이터(한 기관의 소아 영상)와 다릅니다. 이 영상에 대한 모델 출력은 신뢰할 수 없습니다.",
        "failed": "입력 검사는 이 영상을 정면 흉부 X선으로 받아들이지 않았습니다. 출력이 무의미할 수 있습니다.",
        "overridden": "입력 검사는 이 영상을 정면 흉부 X선으로 받아들이지 않았으나, 사용자가 분석을 강행했습니다.",
        "not_checked": "이 영상에는 입력 검사가 실행되지 않았습니다.",
    },
}


def quality_words(f: ReportFacts, lang: str) -> list[str]:
    """The quality flags in words; "small" only for an original smaller than the model input."""
    return [
        QUALITY_WORDS[lang][q] for q in f.quality_flags if q in QUALITY_WORDS[lang] and (q != "small" or f.upscaled)
    ]


def _quality(f: ReportFacts, lang: str) -> str:
    flags = quality_words(f, lang)
    guard = GUARD_WORDS[lang].get(f.guard_verdict, GUARD_WORDS[lang]["not_checked"])
    if lang == "ko":
        quality = "영상 품질 경고: " + "; ".join(flags) + "." if flags else "자동 품질 검사에서 경고가 없었습니다."
        labels = (
            " 학습 데이터는 한 기관의 소아 흉부 X선이며 라벨은 정상/폐렴 두 가지뿐입니다. 성인 영상이나 다른 기관의 영상에서는"
            " 성능이 달라질 수 있습니다."
        )
        return f"{quality} {guard}{labels}"
    quality = (
        "Image-quality flags: " + "; ".join(flags) + "." if flags else "The automatic quality checks raised no flags."
    )
    labels = (
        " The training data are pediatric chest X-rays from one centre, labelled only NORMAL or PNEUMONIA; "
        "performance on adult images or other centres may differ."
    )
    return f"{quality} {guard}{labels}"


def offline_report(facts: ReportFacts, language: str) -> ReportSections:
    lang = check_language(language)
    return ReportSections(
        stated_label=facts.label,
        stated_probability_pneumonia=facts.probability_pneumonia,
        summary=_summary(facts, lang),
        attention=_attention(facts, lang),
        further_checks=_checks(facts, lang),
        quality_cautions=_quality(facts, lang),
    )
