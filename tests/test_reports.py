"""Reports: the real google-genai SDK against a local fake Gemini server, the offline template,
the fact guard, versioned storage, scoring, "Ask why" and the key never leaking."""

from __future__ import annotations

import json
import logging
import pickle
import time

import pytest
from fake_gemini import FAKE_KEY, FakeGemini

from core.analysis import analyze_bytes
from core.model_service import ModelService
from core.reliability.input_check import NOT_CHEST_XRAY, OUT_OF_DISTRIBUTION, GuardVerdict
from core.reliability.uncertainty import UNCERTAIN, Uncertainty
from core.reports import (
    InMemoryReportStore,
    NoPrediction,
    ReportFacts,
    ask_why,
    build_facts,
    check_report,
    diff_markdown,
    get_report,
    image_id,
    offline_report,
    score_against_reference,
    to_markdown,
)
from core.reports.content import ReportSections
from core.reports.gemini import GeminiSettings
from core.reports.offline import OFFLINE_MODEL
from core.reports.prompt import PROMPT_VERSION, build_prompt
from core.reports.redaction import Secret, redact

FACTS = ReportFacts(
    model_version="abc123def456",
    label="PNEUMONIA",
    probability_pneumonia=0.8734,
    threshold=0.5,
    alternative="NORMAL",
    uncertain=False,
    uncertainty_basis="distance from the threshold",
    uncertainty_value=0.3734,
    guard_verdict="passed",
    guard_detail="",
    cam_target="PNEUMONIA",
    cam_peak_zone="left_lower",
    cam_zone_share=(
        ("left_lower", 0.41),
        ("right_lower", 0.29),
        ("left_middle", 0.12),
        ("right_middle", 0.1),
        ("left_upper", 0.05),
        ("right_upper", 0.03),
    ),
    cam_border_share=0.214,
    cam_metrics=(),
    image_width=224,
    image_height=224,
    source_format="JPEG",
    quality_flags=("small",),
)
IMAGE = "f" * 64


@pytest.fixture
def fake_gemini():
    servers = []

    def start(*script: str, slow_s: float = 3.0) -> FakeGemini:
        server = FakeGemini(list(script), slow_s=slow_s).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def settings_for(server: FakeGemini, **overrides) -> GeminiSettings:
    values = dict(
        api_key=Secret(FAKE_KEY),
        base_url=server.url,
        timeout_s=1.0,
        attempts=3,
        initial_delay_s=0.05,
        max_delay_s=0.2,
        jitter_s=0.0,
    )
    values.update(overrides)
    return GeminiSettings(**values)


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert FAKE_KEY not in text


SCENARIOS = [
    # script, source, guard passes, words in the reason (offline) or the guard reasons, requests made
    (["good"], "gemini", True, None, 1),
    (["429", "good"], "gemini", True, None, 2),
    (["429"], "offline", True, "rate limit or quota was exceeded (HTTP 429) on all 3 attempts", 3),
    (["500"], "offline", True, "server error (HTTP 500) on all 3 attempts", 3),
    (["slow"], "offline", True, "did not answer within 1 s on any of 3 attempts", 3),
    (["not_json"], "offline", True, "reply was not valid JSON", 1),
    (["bad_schema"], "offline", True, "answer was not valid JSON", 1),
    (["blocked"], "offline", True, "blocked the request (block reason SAFETY)", 1),
    (["safety"], "offline", True, "finish reason SAFETY", 1),
    (["empty"], "offline", True, "empty answer", 1),
    (["contradict"], "gemini", False, "the model's output is PNEUMONIA", 1),
]


@pytest.mark.parametrize(
    "script, source, passes, words, calls", SCENARIOS, ids=[s[0][0] + str(len(s[0])) for s in SCENARIOS]
)
def test_fake_gemini_scenarios_end_in_a_stored_checked_report(
    fake_gemini, caplog, script, source, passes, words, calls
):
    caplog.set_level(logging.DEBUG)
    server = fake_gemini(*script, slow_s=2.5)
    settings = settings_for(server)
    store = InMemoryReportStore()
    started = time.monotonic()
    outcome = get_report(FACTS, IMAGE, store, language="en", settings=settings)
    elapsed = time.monotonic() - started
    record = outcome.record

    assert elapsed < settings.worst_case_s + 2, "the call must be bounded"
    assert len(server.requests) == calls
    assert all(r.api_key == FAKE_KEY for r in server.requests), "the SDK sent the key in its header"
    assert store.versions(record.key) == [record] and record.version == 1 and not outcome.reused
    assert record.source == source and record.guard_passed is passes
    assert record.llm_model == (settings.model if source == "gemini" else OFFLINE_MODEL)
    assert (record.model_version, record.prompt_version, record.language) == (FACTS.model_version, PROMPT_VERSION, "en")
    if source == "offline":
        assert words in record.source_reason
        assert record.content["sections"] == offline_report(FACTS, "en").model_dump()
    else:
        assert record.source_reason is None
        assert record.content["sections"]["summary"].startswith("[fake-gemini]")
    if not passes:
        reasons = "; ".join(record.guard_reasons)
        for expected in (words, "P(pneumonia)", "notice is missing", "effusion", "63.2%"):
            assert expected in reasons
    markdown = to_markdown(record)
    if not passes:
        assert "Fact check FAILED" in markdown
    assert_no_key(markdown, json.dumps(record.to_dict()), repr(record), caplog.text)


def test_one_deadline_bounds_all_attempts_of_a_hanging_gemini(fake_gemini):
    """A hanging endpoint costs the report's deadline at most, retries and waits included, then offline."""
    server = fake_gemini("slow", slow_s=5.0)
    settings = settings_for(server, timeout_s=1.0, attempts=5, deadline_s=3.5)
    assert settings.worst_case_s == 3.5
    started = time.monotonic()
    record = get_report(FACTS, IMAGE, InMemoryReportStore(), settings=settings).record
    elapsed = time.monotonic() - started
    # Attempt 1 times out at 1 s, attempt 2 at about 2 s; a third would have under 2 s left: not started.
    assert len(server.requests) == 2 and elapsed < settings.deadline_s + 1.0
    assert record.source == "offline"
    assert record.source_reason == "Gemini did not answer within the report's 3.5 s deadline (2 attempts)"
    assert GeminiSettings(api_key=None).worst_case_s <= 45.0  # the default: one report waits 45 s at most


def test_server_error_text_echoing_the_key_is_redacted_everywhere(fake_gemini, caplog):
    caplog.set_level(logging.DEBUG)
    server = fake_gemini("500")
    record = get_report(FACTS, IMAGE, InMemoryReportStore(), settings=settings_for(server)).record
    assert "key=[redacted]" in record.source_reason  # the server did echo it; we removed it
    assert "key=[redacted]" in caplog.text  # the SDK's retry log line, through our filter
    assert_no_key(record.source_reason, caplog.text)


def test_same_key_reuses_the_stored_report_and_regenerate_keeps_both(fake_gemini):
    server = fake_gemini("good")
    settings, store = settings_for(server), InMemoryReportStore()
    first = get_report(FACTS, IMAGE, store, settings=settings)
    again = get_report(FACTS, IMAGE, store, settings=settings)
    assert again.reused and again.record == first.record and len(server.requests) == 1

    second = get_report(FACTS, IMAGE, store, settings=settings, regenerate=True)
    assert not second.reused and len(server.requests) == 2
    assert [r.version for r in store.versions(first.record.key)] == [1, 2]
    assert get_report(FACTS, IMAGE, store, settings=settings).record.version == 2  # latest wins
    assert diff_markdown(first.record, second.record) == ""  # fake answers are deterministic

    korean = get_report(FACTS, IMAGE, store, language="ko", settings=settings)
    assert not korean.reused and korean.record.language == "ko" and len(server.requests) == 3


def test_a_fallback_is_not_reused_when_gemini_comes_back(fake_gemini):
    server = fake_gemini("500", "500", "500", "good")
    settings, store = settings_for(server), InMemoryReportStore()
    assert get_report(FACTS, IMAGE, store, settings=settings).record.source == "offline"
    back = get_report(FACTS, IMAGE, store, settings=settings)
    assert back.record.source == "gemini" and not back.reused


def test_diff_shows_what_changed_between_versions():
    store = InMemoryReportStore()
    old = get_report(FACTS, IMAGE, store).record
    edited = dict(old.content, sections=dict(old.content["sections"], further_checks="Something else entirely."))
    new = store.add(type(old)(**{**old.__dict__, "content": edited}))
    diff = diff_markdown(old, new)
    assert new.version == 2
    assert "-For learning" in diff and "+Something else entirely." in diff


def test_offline_report_is_deterministic_and_passes_the_guard():
    for language in ("en", "ko"):
        a, b = offline_report(FACTS, language), offline_report(ReportFacts.from_dict(FACTS.to_dict()), language)
        assert a == b
        assert check_report(a, FACTS).passed, check_report(a, FACTS).reasons
    store_a, store_b = InMemoryReportStore(), InMemoryReportStore()
    ra, rb = get_report(FACTS, IMAGE, store_a).record, get_report(FACTS, IMAGE, store_b).record
    assert to_markdown(ra) == to_markdown(rb) and ra.content == rb.content
    assert ra.source == "offline" and "no Gemini API key" in ra.source_reason


def test_korean_offline_report():
    record = get_report(FACTS, IMAGE, InMemoryReportStore(), language="ko").record
    text = to_markdown(record)
    assert "진단이 아닙니다" in text and "폐렴(PNEUMONIA)" in text and "87.3%" in text
    assert "1. 요약" in text and "4. 영상 품질" in text and "오프라인" in text
    assert record.guard_passed


@pytest.mark.parametrize(
    "field, value, reason",
    [
        (
            "summary",
            "The model's output is PNEUMONIA with a probability of pneumonia of 91.0%. It does not diagnose.",
            "91.0%",
        ),
        ("summary", "The model's output is PNEUMONIA with a probability of pneumonia of 87.3%.", "notice is missing"),
        ("attention", "There is a right-sided pneumothorax.", "pneumothorax"),
        ("summary", "The image was classified as NORMAL. It does not diagnose.", "presents NORMAL"),
        ("stated_label", "NORMAL", "states the class NORMAL"),
        ("stated_probability_pneumonia", 0.2, "P(pneumonia)"),
        (
            "summary",
            "모델은 이 영상을 정상으로 분류했습니다. 폐렴 확률은 87.3%입니다. 진단이 아닙니다.",
            "presents NORMAL",
        ),
        ("attention", "좌측 하부에 결핵이 보입니다.", "결핵"),
    ],
)
def test_guard_flags_each_kind_of_contradiction(field, value, reason):
    report = offline_report(FACTS, "en").model_copy(update={field: value})
    result = check_report(report, FACTS)
    assert not result.passed and any(reason in r for r in result.reasons), result.reasons


def test_guard_accepts_limits_and_rounded_numbers():
    report = offline_report(FACTS, "en").model_copy(
        update={
            "summary": "The model's output is PNEUMONIA; the probability of pneumonia is 87%. It is not a diagnosis.",
            "further_checks": "The model cannot detect tuberculosis, effusion or a pneumothorax; a clinician would rule these out.",
            "stated_probability_pneumonia": 87.34,  # a percentage in the number field is read as one
        }
    )
    assert check_report(report, FACTS).passed, check_report(report, FACTS).reasons


def test_prompt_is_built_from_the_facts_and_carries_its_language():
    system, user = build_prompt(FACTS, "ko")
    assert "Korean" in system and "진단이 아닙니다" in system
    facts = json.loads(user.split("Facts (JSON):\n", 1)[1])
    assert facts["probability_of_pneumonia"] == "87.3%" and facts["model_output_class"] == "PNEUMONIA"
    assert build_prompt(FACTS, "ko") == (system, user)
    with pytest.raises(ValueError):
        build_prompt(FACTS, "fr")


def test_scoring_against_an_instructor_reference():
    text = offline_report(FACTS, "en").text()
    same = score_against_reference(text, text, "en")
    assert same.rouge_l_f == 1.0 and same.bleu == pytest.approx(100.0)
    other = score_against_reference(text, "Bilateral hazy opacities consistent with viral infection.", "en")
    assert other.rouge_l_f < 0.2 and other.bleu < 5
    ko = offline_report(FACTS, "ko").text()
    partial = score_against_reference(ko, "모델의 출력은 폐렴이며 히트맵은 좌측 하부에 있습니다.", "ko")
    assert 0 < partial.rouge_l_f < 1 and 0 < partial.bleu < 100  # Hangul is tokenised, not dropped
    assert score_against_reference(ko, ko, "ko").rouge_l_f == 1.0
    with pytest.raises(ValueError):
        score_against_reference(text, "  ", "en")


def test_stored_report_content_is_scored_on_its_four_sections():
    from core.reports.content import SECTION_KEYS
    from core.reports.scoring import score_report_content, scores_line, sections_text

    sections = offline_report(FACTS, "en")
    content = {"sections": {key: getattr(sections, key) for key in SECTION_KEYS}}
    assert sections_text(content["sections"]) == sections.text()  # no headings, no notice line added
    scores = score_report_content(content, "en", sections.text())
    assert scores.rouge_l_f == 1.0 and scores_line(scores) == "ROUGE-L 1.00 · BLEU 100"
    assert score_report_content({"text": "an old report"}, "en", "anything").rouge_l_f == 0.0  # pre-0002 content


def test_ask_why_offline_and_with_gemini(fake_gemini):
    offline = ask_why(FACTS, "Why did it say pneumonia?", "en")
    assert offline.source == "offline" and "87.3%" in offline.text and "50.0%" in offline.text
    where = ask_why(FACTS, "히트맵은 어디를 보았나요?", "ko")
    assert "좌측 하부" in where.text

    good = ask_why(FACTS, "Why?", "en", settings_for(fake_gemini("good")))
    assert good.source == "gemini" and "87.3%" in good.text
    bad = ask_why(FACTS, "Why?", "en", settings_for(fake_gemini("contradict")))
    assert bad.source == "offline" and "failed the fact check" in bad.reason and "tuberculosis" in bad.reason
    down = ask_why(FACTS, "Why?", "en", settings_for(fake_gemini("500")))
    assert down.source == "offline" and "HTTP 500" in down.reason
    assert_no_key(down.reason, down.text)
    with pytest.raises(ValueError):
        ask_why(FACTS, "   ", "en")


def test_settings_read_the_key_and_never_show_it(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    settings = GeminiSettings.from_env()
    assert settings.online and settings.api_key.reveal() == FAKE_KEY
    assert_no_key(repr(settings), str(settings.api_key))
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    monkeypatch.setenv("CXR_GEMINI_MODEL", "gemini-test-flash")
    from_secrets = GeminiSettings.from_env({"GOOGLE_API_KEY": "AIzaOTHER-secret-key-from-streamlit-0000"})
    assert from_secrets.api_key.reveal().startswith("AIzaOTHER") and from_secrets.model == "gemini-test-flash"
    assert (
        redact(f"failed with {FAKE_KEY} and AIzaSomethingElse1234567890abcdefgh")
        == "failed with [redacted] and [redacted]"
    )
    monkeypatch.delenv("GEMINI_API_KEY")
    assert not GeminiSettings.from_env().online


def test_facts_from_a_real_analysis(use_trained_weights, xray_bytes):
    analysis = analyze_bytes(ModelService(), xray_bytes)
    facts = build_facts(analysis)
    assert facts.label == analysis.label and facts.probability_pneumonia == round(analysis.probability, 4)
    assert facts.alternative != facts.label and facts.guard_verdict == "not_checked"
    assert "small" not in facts.quality_flags and not facts.upscaled  # 224 px test images: not upscaled
    if analysis.cam_summary["peak"] is None:  # random weights can leave no positive evidence
        assert facts.cam_peak_zone is None and facts.cam_zone_share == ()
        assert "heatmap is empty" in offline_report(facts, "en").attention
    else:
        assert abs(sum(v for _, v in facts.cam_zone_share) - 1) < 1e-3
    assert check_report(offline_report(facts, "ko"), facts).passed
    assert ReportFacts.from_dict(json.loads(facts.to_json())) == facts
    assert image_id(analysis.image.pixels) == image_id(analysis.image.pixels.copy())


def test_facts_read_guard_uncertainty_and_lung_metrics_when_present(use_trained_weights, xray_bytes):
    """The input guard's verdict, the uncertainty read-out and lung/marker CAM metrics reach the facts."""
    analysis = analyze_bytes(ModelService(), xray_bytes)
    analysis.guard = GuardVerdict(
        NOT_CHEST_XRAY, "far from the training images", 50.0, 30.0, 0.0, 0.0, overridden=True, stage=1
    )
    analysis.uncertainty = Uncertainty(UNCERTAIN, (0.3, 0.7), ["spread over test-time augmentations"], 0.8)
    analysis.cam_summary = dict(analysis.cam_summary, lung_share=0.4321, marker_share=0.0812)
    facts = build_facts(analysis)
    assert (facts.guard_verdict, facts.guard_detail) == ("overridden", "far from the training images")
    assert facts.uncertain and facts.uncertainty_basis == "spread over test-time augmentations"
    assert facts.uncertainty_value == 0.8
    assert dict(facts.cam_metrics) == {"lung_share": 0.4321, "marker_share": 0.0812}
    text = offline_report(facts, "en").text()
    assert "43.2%" in text and "8.1%" in text and "analyse it anyway" in text and "uncertain" in text
    assert check_report(offline_report(facts, "en"), facts).passed


def test_placeholder_model_has_nothing_to_report(use_placeholder, xray_bytes):
    with pytest.raises(NoPrediction):
        build_facts(analyze_bytes(ModelService(), xray_bytes))


def test_record_round_trips_through_json():
    record = get_report(FACTS, IMAGE, InMemoryReportStore()).record
    again = type(record).from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert isinstance(record.content["sections"], dict) and ReportSections(**record.content["sections"])


@pytest.mark.parametrize("lung_share", [0.30, 0.50, 0.62])
def test_one_rule_for_mainly_on_the_lungs_in_reports_and_their_check(lung_share):
    from dataclasses import replace

    from core.reports.fact_check import check_answer

    facts = replace(FACTS, cam_metrics=(("lung_share", lung_share),))
    mainly = lung_share > 0.5
    for language, says_mainly, says_outside in (
        ("en", "lies mainly on the lungs", "most of the heatmap lies outside the lungs"),
        ("ko", "주로 폐 위에", "대부분은 폐 바깥에"),
    ):
        text = offline_report(facts, language).attention
        assert (says_mainly in text) is mainly and (says_outside in text) is not mainly, text
        assert check_report(offline_report(facts, language), facts).passed
    claim = check_answer("The heatmap lies mainly on the lungs.", facts)
    assert claim.passed is mainly
    if not mainly:
        assert "not more than half" in claim.reasons[0]
    assert check_answer("Most of the heatmap lies outside the lungs, not mainly on the lungs.", facts).passed
