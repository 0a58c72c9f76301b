"""The report's shape: four sections plus the class and probability it states, in two languages."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.analysis import DISCLAIMER

LANGUAGES = ("en", "ko")
SECTION_KEYS = ("summary", "attention", "further_checks", "quality_cautions")

HEADINGS = {
    "en": {
        "title": "Educational report",
        "summary": "1. Summary",
        "attention": "2. What the model attended to",
        "further_checks": "3. Suggested further checks and clinical correlation",
        "quality_cautions": "4. Image quality and labelling cautions",
    },
    "ko": {
        "title": "교육용 리포트",
        "summary": "1. 요약",
        "attention": "2. 모델이 주목한 영역",
        "further_checks": "3. 추가 확인 및 임상적 연관성",
        "quality_cautions": "4. 영상 품질 및 라벨 관련 주의점",
    },
}

NOTICE = {
    "en": DISCLAIMER,
    "ko": "교육용 도구이며 진단이 아닙니다. 모델과 히트맵은 틀릴 수 있으며, 임상적 판단은 자격을 갖춘 의료진에게 맡겨야 합니다.",
}

CLASS_WORDS = {
    "en": {"NORMAL": "NORMAL", "PNEUMONIA": "PNEUMONIA"},
    "ko": {"NORMAL": "정상(NORMAL)", "PNEUMONIA": "폐렴(PNEUMONIA)"},
}


class ReportSections(BaseModel):
    """Also the response schema sent to Gemini, so the descriptions are instructions too."""

    stated_label: str = Field(description="The model output class exactly as given in the facts: NORMAL or PNEUMONIA.")
    stated_probability_pneumonia: float = Field(
        description="The calibrated probability of pneumonia exactly as given in the facts, as a number from 0 to 1."
    )
    summary: str = Field(description="Section 1: the model output and probability, and the non-diagnostic notice.")
    attention: str = Field(description="Section 2: where the Grad-CAM heatmap lies, with Grad-CAM caveats.")
    further_checks: str = Field(description="Section 3: suggested further checks and clinical correlation.")
    quality_cautions: str = Field(description="Section 4: image quality and labelling cautions.")

    def text(self) -> str:
        return "\n\n".join(getattr(self, key) for key in SECTION_KEYS)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return language
