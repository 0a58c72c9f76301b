"""The report's two faces: `python -m core report` and the Analyze page's report panel (AppTest)."""

from __future__ import annotations

import json

import pytest
from fake_gemini import FAKE_KEY, FakeGemini
from test_app import fresh_app, page_text, upload
from test_cli import run_cli


@pytest.fixture
def fake_server():
    server = FakeGemini(["good"]).start()
    yield server
    server.stop()


def test_cli_report_json_offline(trained_weights_dir, kermany_test_dir):
    image = next((kermany_test_dir / "NORMAL").glob("*.jpeg"))
    analysed = json.loads(run_cli("analyze", image, "--json", weights_dir=trained_weights_dir).stdout)
    done = run_cli("report", image, "--json", "--lang", "ko", weights_dir=trained_weights_dir)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["facts"]["label"] == analysed["label"]
    assert out["facts"]["probability_pneumonia"] == analysed["probability_pneumonia"]
    report = out["report"]
    assert report["source"] == "offline" and report["guard_passed"] is True and report["language"] == "ko"
    assert "no Gemini API key" in report["content"]["source_reason"]
    assert "진단이 아닙니다" in out["markdown"]


def test_cli_report_text_with_the_fake_gemini(trained_weights_dir, kermany_test_dir, fake_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_server.url)
    image = next((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))
    done = run_cli("report", image, weights_dir=trained_weights_dir)
    assert done.returncode == 0, done.stderr
    assert "source: gemini" in done.stdout and "guard: passed" in done.stdout and "[fake-gemini]" in done.stdout
    assert len(fake_server.requests) == 1 and fake_server.requests[0].api_key == FAKE_KEY
    assert FAKE_KEY not in done.stdout + done.stderr


def test_cli_report_refuses_placeholder_and_bad_input(tmp_path, xray_bytes):
    image = tmp_path / "x.jpeg"
    image.write_bytes(xray_bytes)
    for target in (image, tmp_path / "missing.png"):
        done = run_cli("report", target, weights_dir=tmp_path)
        assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr
    assert "no trained model" in run_cli("report", image, weights_dir=tmp_path).stderr


def all_text(at) -> str:
    parts = [page_text(at)]
    for kind in ("code", "success", "json", "text_input", "expander"):
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "value", "")) + str(getattr(element, "label", "")))
    return "\n".join(parts)


def test_report_panel_with_the_fake_gemini(use_trained_weights, xray_bytes, fake_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_server.url)
    at = upload(fresh_app(), "case.jpeg", xray_bytes)
    assert not at.exception, at.exception
    assert at.button(key="report_regenerate").disabled
    at.button(key="report_generate").click().run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "Gemini" in text and "[fake-gemini]" in text and "Fact check passed" in text
    assert len(fake_server.requests) == 1

    at.button(key="report_regenerate").click().run()
    assert not at.exception, at.exception
    assert len(fake_server.requests) == 2
    assert any("version 1 (Gemini) → version 2 (Gemini)" in e.label for e in at.expander)
    assert "identical text" in all_text(at)

    at.text_input(key="report_question").input("Why pneumonia?")
    next(b for b in at.button if b.label == "Ask").click().run()
    assert not at.exception, at.exception
    assert "Answered by Gemini" in all_text(at) and len(fake_server.requests) == 3
    assert FAKE_KEY not in all_text(at)


def test_report_panel_offline_in_korean_and_a_failing_server(use_trained_weights, xray_bytes, monkeypatch):
    at = upload(fresh_app(), "case.jpeg", xray_bytes)
    at.radio(key="report_language").set_value("ko").run()
    at.button(key="report_generate").click().run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "Offline" in text and "no Gemini API key" in text and "1. 요약" in text and "진단이 아닙니다" in text
    assert at.button(key="report_generate").disabled  # stored: shown again, not regenerated

    failing = FakeGemini(["500"]).start()
    try:
        monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", failing.url)
        at.radio(key="report_language").set_value("en").run()
        at.button(key="report_generate").click().run()
        assert not at.exception, at.exception
        text = all_text(at)
        assert "server error (HTTP 500)" in text and "Offline" in text and FAKE_KEY not in text
    finally:
        failing.stop()
