"""Each conditional sentence of the offline report only when it holds, in both languages; the fact
check failing a report that says it wrongly; Korean particles that agree with the word."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_reports import FACTS

from core.korean import final_consonant, josa, particle
from core.reliability.input_check import IN_DISTRIBUTION, NOT_CHEST_XRAY, GuardVerdict
from core.reliability.uncertainty import UNCERTAIN, assess
from core.reports import ReportFacts, check_report, offline_report
from core.reports.ask import offline_answer
from core.reports.fact_check import check_answer
from core.reports.facts import IN_BAND, INPUT_CHECK_FLAGGED, OTHER_REASON, UNUSUAL_IMAGE, _uncertainty

BASE = replace(
    FACTS,
    uncertainty_basis="P(pneumonia) 87% lies outside the uncertain band 40%–60% around the threshold 50%",
    uncertainty_value=0.21,
    quality_flags=("small",),  # as facts before version 3 said for every 224-px image
    uncertainty_figures=(0.4, 0.6, 0.95),
)
IN_BAND_FACTS = replace(
    BASE, probability_pneumonia=0.55, uncertain=True, uncertainty_reasons=(IN_BAND,), uncertainty_value=0.8
)
FLAGGED = replace(
    BASE,
    uncertain=True,
    uncertainty_basis="the input check judged this image not to be a frontal chest X-ray; it was analysed anyway",
    uncertainty_reasons=(INPUT_CHECK_FLAGGED,),
    guard_verdict="overridden",
    uncertainty_value=1.0,
)
SMALL = replace(BASE, image_width=180, image_height=200)
SPREAD = replace(
    BASE,
    cam_zone_share=(
        ("left_lower", 0.26),
        ("right_lower", 0.2),
        ("left_middle", 0.19),
        ("right_middle", 0.15),
        ("left_upper", 0.11),
        ("right_upper", 0.09),
    ),
)
LANGUAGES = ("en", "ko")
CLOSE = {"en": "this close to the threshold", "ko": "임계값에 가까우므로"}
UPSCALED = {"en": "upscaled picture", "ko": "확대된 영상"}
MOST = {"en": "most of its mass lies in", "ko": "질량의 대부분은"}
LARGEST = {"en": "the largest shares are in", "ko": "가장 큰 비율은"}
SURE = {"en": "well away from the decision threshold", "ko": "충분히 떨어져"}


def report_text(facts: ReportFacts, language: str) -> str:
    report = offline_report(facts, language)
    check = check_report(report, facts)
    assert check.passed, (language, check.reasons)  # every offline report passes its own facts' check
    return report.text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_close_to_the_threshold_only_inside_the_uncertain_band(language):
    assert CLOSE[language] not in report_text(BASE, language)
    text = report_text(IN_BAND_FACTS, language)
    assert CLOSE[language] in text and SURE[language] not in text
    assert ("40.0%–60.0%" in text) and ("uncertain" in text if language == "en" else "불확실" in text)
    assert SURE[language] in report_text(BASE, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_uncertain_for_another_reason_says_that_reason(language):
    text = report_text(FLAGGED, language)
    assert CLOSE[language] not in text and SURE[language] not in text
    reason = {"en": "did not accept this image as a frontal chest X-ray", "ko": "받아들여지지 않"}[language]
    assert reason in offline_report(FLAGGED, language).summary
    assert reason in offline_report(FLAGGED, language).further_checks
    assert "judged by" not in text and "the the" not in text


def test_older_facts_without_reason_codes_are_read_from_their_basis():
    old = replace(FLAGGED, uncertainty_reasons=())
    assert old.reasons_uncertain == (INPUT_CHECK_FLAGGED,)
    assert replace(BASE, uncertain=True, uncertainty_basis="spread over augmentations").reasons_uncertain == (
        OTHER_REASON,
    )
    # an in-band probability is a reason whatever the stored flag says; outside the band it never is
    assert replace(BASE, probability_pneumonia=0.5).reasons_uncertain == (IN_BAND,)
    assert replace(FLAGGED, uncertainty_reasons=(IN_BAND, INPUT_CHECK_FLAGGED)).reasons_uncertain == (
        INPUT_CHECK_FLAGGED,
    )
    text = offline_report(replace(BASE, uncertain=True, uncertainty_basis="spread over augmentations"), "en").summary
    assert "uncertain here: spread over augmentations." in text


class _Analysis:
    def __init__(self, probability, uncertainty, guard=None):
        self.probability, self.uncertainty, self.guard = probability, uncertainty, guard


def test_basis_and_reason_codes_come_from_the_uncertainty_read_out():
    flagged_guard = GuardVerdict(NOT_CHEST_XRAY, "far", 50.0, 30.0, 0.0, 0.0, overridden=True, stage=1)
    certainty = assess(0.9, 0.5, None, flagged_guard)
    uncertain, basis, _, figures, codes = _uncertainty(_Analysis(0.9, certainty, flagged_guard), 0.9, 0.5)
    assert uncertain and codes == (INPUT_CHECK_FLAGGED,) and "judged by" not in basis
    in_band = assess(0.52, 0.5, None)
    assert _uncertainty(_Analysis(0.52, in_band), 0.52, 0.5)[4] == (IN_BAND,)
    unusual = replace(flagged_guard, verdict=IN_DISTRIBUTION, overridden=False, familiarity_percentile=1.0)
    certainty = assess(0.9, 0.5, None, unusual)
    assert certainty.level == UNCERTAIN
    assert _uncertainty(_Analysis(0.9, certainty, unusual), 0.9, 0.5)[4] == (UNUSUAL_IMAGE,)
    confident = assess(0.99, 0.5, None)
    uncertain, basis, _, _, codes = _uncertainty(_Analysis(0.99, confident), 0.99, 0.5)
    assert not uncertain and codes == () and basis.startswith("P(pneumonia) 99% lies outside the uncertain band")
    # without an uncertainty read-out: the threshold margin, worded as a whole clause
    uncertain, basis, _, figures, codes = _uncertainty(_Analysis(0.55, None), 0.55, 0.5)
    assert uncertain and codes == (IN_BAND,) and figures == () and "less than 0.15" in basis


@pytest.mark.parametrize("language", LANGUAGES)
def test_upscaled_only_for_an_original_smaller_than_the_model_input(language):
    assert UPSCALED[language] not in report_text(BASE, language)  # 224 × 224, even with an old "small" flag
    assert UPSCALED[language] in report_text(SMALL, language)
    assert UPSCALED[language] not in report_text(replace(BASE, image_width=1024, image_height=900), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_most_of_its_mass_only_when_the_two_zones_hold_more_than_half(language):
    text = report_text(BASE, language)  # 41 % + 29 %
    assert MOST[language] in text and LARGEST[language] not in text
    text = report_text(SPREAD, language)  # 26 % + 20 %
    assert MOST[language] not in text and LARGEST[language] in text
    edge = replace(SPREAD, cam_zone_share=(("left_lower", 0.3), ("right_lower", 0.2), *SPREAD.cam_zone_share[2:]))
    assert MOST[language] not in report_text(edge, language)  # exactly half is not most


@pytest.mark.parametrize(
    "facts, sentence, reason",
    [
        (BASE, "With the probability this close to the threshold, treat the output with extra caution.", "close to"),
        (BASE, "확률이 임계값에 가까우므로 이 출력은 특히 신중하게 다루어야 합니다.", "close to"),
        (IN_BAND_FACTS, "The probability is well away from the decision threshold.", "well away"),
        (IN_BAND_FACTS, "결정 임계값에서 충분히 떨어져 있어 모델은 비교적 확신하고 있습니다.", "well away"),
        (BASE, "The image is small, so the model sees an upscaled picture.", "upscaled"),
        (BASE, "영상이 작아 모델은 확대된 영상을 봅니다.", "upscaled"),
        (SPREAD, "Most of its mass lies in the left lower zone (26.0%) and right lower zone (20.0%).", "most of"),
        (SPREAD, "질량의 대부분은 좌측 하부(26.0%)와 우측 하부(20.0%)에 있습니다.", "most of"),
    ],
)
def test_the_fact_check_fails_each_wrong_conditional_sentence(facts, sentence, reason):
    assert reason in "; ".join(check_answer(sentence, facts).reasons)
    report = offline_report(facts, "en").model_copy(update={"further_checks": sentence})
    result = check_report(report, facts)
    assert not result.passed and any(reason in r for r in result.reasons), result.reasons


@pytest.mark.parametrize(
    "facts, sentence",
    [
        (IN_BAND_FACTS, "With the probability this close to the threshold, treat the output with extra caution."),
        (BASE, "The probability is not close to the threshold."),
        (SMALL, "The image is small, so the model sees an upscaled picture."),
        (BASE, "Most of its mass lies in the left lower zone (41.0%) and right lower zone (29.0%)."),
        (SPREAD, "The largest shares are in the left lower zone (26.0%) and right lower zone (20.0%)."),
        (IN_BAND_FACTS, "P(pneumonia) lies inside the uncertain band 40.0%–60.0% around the decision threshold."),
    ],
)
def test_the_same_sentences_pass_when_they_hold(facts, sentence):
    assert check_answer(sentence, facts).passed, check_answer(sentence, facts).reasons


@pytest.mark.parametrize(
    "word, form, expected",
    [
        ("폐렴", "를", "폐렴을"),
        ("폐렴(PNEUMONIA)", "를", "폐렴(PNEUMONIA)을"),
        ("정상(NORMAL)", "가", "정상(NORMAL)이"),
        ("리포트", "을", "리포트를"),
        ("히트맵", "는", "히트맵은"),
        ("모델", "은", "모델은"),
        ("사례", "은", "사례는"),
        ("임계값", "와", "임계값과"),
        ("하부(41.0%)", "과", "하부(41.0%)와"),
        ("21.4%", "이", "21.4%가"),
        ("10", "가", "10이"),
        ("41.0", "는", "41.0은"),
        ("Grad-CAM", "를", "Grad-CAM을"),
        ("ROC", "을", "ROC를"),
        ("폐렴", "로", "폐렴으로"),
        ("서울", "으로", "서울로"),  # a final ㄹ takes 로
        ("학교", "으로", "학교로"),
    ],
)
def test_particles_agree_with_the_word(word, form, expected):
    assert josa(word, form) == expected


def test_particle_helper_edges():
    assert final_consonant("폐렴(PNEUMONIA)") == final_consonant("폐렴") != 0
    assert final_consonant("") is None and particle("", "를") == "을"
    with pytest.raises(ValueError):
        particle("폐렴", "에게")


def test_korean_texts_never_write_both_forms():
    for facts in (BASE, IN_BAND_FACTS, FLAGGED, SMALL, SPREAD, replace(BASE, label="NORMAL", alternative="PNEUMONIA")):
        texts = [offline_report(facts, "ko").text()] + [
            offline_answer(facts, q, "ko")
            for q in ("왜 폐렴인가요?", "확신하나요?", "품질은?", "지름길?", "히트맵은 어디?")
        ]
        for text in texts:
            for both in ("을(를)", "를(을)", "이(가)", "가(이)", "은(는)", "는(은)", "와(과)", "과(와)"):
                assert both not in text, text


@pytest.mark.parametrize("facts", [BASE, IN_BAND_FACTS, FLAGGED, SMALL])
def test_the_korean_ask_why_answer_is_korean(facts):
    import re

    for question in ("왜 폐렴인가요?", "확신하나요?", "불확실한가요?", "품질은 어떤가요?", "지름길 학습인가요?"):
        answer = offline_answer(facts, question, "ko")
        english = [
            w for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", answer) if w not in ("PNEUMONIA", "NORMAL", "Grad-CAM")
        ]
        assert not english, (question, answer)
        assert check_answer(answer, facts).passed, (answer, check_answer(answer, facts).reasons)
    assert "폐렴(PNEUMONIA)을 출력했습니다" in offline_answer(facts, "왜?", "ko")
