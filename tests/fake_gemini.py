"""A local fake of the Gemini API's generateContent endpoint, for the real google-genai SDK.

It listens on 127.0.0.1 and plays a script of behaviours, one per request (the last repeats):
  "good"       a correct answer written from the facts found in the prompt
  "contradict" a well-formed answer that contradicts the facts (other class, invented numbers, another disease)
  "429" / "500" an error status (the 500 body echoes the API key, like a leaky proxy would)
  "slow"       answers after `slow_s` seconds (longer than the client's timeout)
  "not_json"   HTTP 200 whose body is not JSON
  "bad_schema" a candidate whose text is not the report JSON
  "blocked"    promptFeedback.blockReason = SAFETY, no candidates
  "safety"     a candidate with finishReason SAFETY and no content
  "empty"      a candidate with finishReason STOP and no parts
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAKE_KEY = "AIzaFAKE-test-key-0123456789abcdefghijk"


def facts_from_prompt(text: str) -> dict:
    return json.loads(text.split("Facts (JSON):\n", 1)[1].split("\n\nQuestion:", 1)[0])


def good_sections(facts: dict, korean: bool) -> dict:
    cls = facts["model_output_class"]
    p = facts["probability_of_pneumonia"]
    top_zone, top_share = next(iter(facts["grad_cam"]["zone_share_largest_first"].items()), ("no", "0.0%"))
    if korean:
        summary = f"[fake-gemini] 모델의 출력은 {cls}이고 폐렴 확률은 {p}입니다. 교육용 도구이며 진단이 아닙니다."
        attention = f"히트맵 질량은 {top_zone}에 {top_share} 있습니다. Grad-CAM은 질병의 위치를 보여주지 않습니다."
        checks = "임상 소견과 병력을 함께 확인해야 합니다."
        quality = "학습 데이터는 소아 영상이며 라벨은 두 가지뿐입니다."
    else:
        summary = (
            f"[fake-gemini] The model's output is {cls} with a probability of pneumonia of {p}. "
            "This is an educational tool and does not diagnose."
        )
        attention = f"The heatmap holds {top_share} of its mass in the {top_zone} zone. Grad-CAM does not show where disease is."
        checks = "Correlate with history, examination and follow-up."
        quality = "Pediatric training data with two labels only."
    return {
        "stated_label": cls,
        "stated_probability_pneumonia": float(p.rstrip("%")) / 100,
        "summary": summary,
        "attention": attention,
        "further_checks": checks,
        "quality_cautions": quality,
    }


def contradicting_sections(facts: dict) -> dict:
    other = facts["alternative_class"]
    return {
        "stated_label": other,
        "stated_probability_pneumonia": 0.5,
        "summary": f"[fake-gemini] The image is classified as {other} with a probability of 63.2%.",
        "attention": "The heatmap shows a large pleural effusion in the left base.",
        "further_checks": "Start treatment.",
        "quality_cautions": "Good quality.",
    }


def candidate(text: str | None, finish: str = "STOP") -> dict:
    cand = {"finishReason": finish, "index": 0}
    if text is not None:
        cand["content"] = {"role": "model", "parts": [{"text": text}]}
    return {"candidates": [cand], "modelVersion": "fake-gemini"}


@dataclass
class Request:
    path: str
    api_key: str | None
    body: dict


@dataclass
class FakeGemini:
    script: list[str] = field(default_factory=lambda: ["good"])
    slow_s: float = 3.0
    requests: list[Request] = field(default_factory=list)

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("x-goog-api-key")
                with fake._lock:
                    fake.requests.append(Request(self.path, key, body))
                    step = fake.script[min(len(fake.requests) - 1, len(fake.script) - 1)]
                fake._answer(self, step, body, key)

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _send(self, handler, status: int, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def _answer(self, handler, step: str, body: dict, key: str | None) -> None:
        prompt = body["contents"][0]["parts"][0]["text"]
        system = json.dumps(body.get("systemInstruction", {}), ensure_ascii=False)
        korean = "Korean" in system
        structured = "responseSchema" in body.get("generationConfig", {}) or "responseJsonSchema" in body.get(
            "generationConfig", {}
        )
        facts = facts_from_prompt(prompt)
        if step == "slow":
            time.sleep(self.slow_s)
            step = "good"
        if step == "good":
            if structured:
                text = json.dumps(good_sections(facts, korean), ensure_ascii=False)
            else:
                text = (
                    f"[fake-gemini] The model gave {facts['model_output_class']} because P(pneumonia) was "
                    f"{facts['probability_of_pneumonia']}; Grad-CAM shows where evidence lies, not disease."
                )
            return self._send(handler, 200, candidate(text))
        if step == "contradict":
            text = (
                json.dumps(contradicting_sections(facts))
                if structured
                else "The probability is 77.7% and there is tuberculosis in the apex."
            )
            return self._send(handler, 200, candidate(text))
        if step == "429":
            return self._send(
                handler,
                429,
                {
                    "error": {
                        "code": 429,
                        "message": "Resource has been exhausted (e.g. check quota).",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                },
            )
        if step == "500":
            return self._send(
                handler,
                500,
                {"error": {"code": 500, "message": f"Internal error while serving key={key}", "status": "INTERNAL"}},
            )
        if step == "not_json":
            return self._send(handler, 200, b"<html>upstream proxy error</html>")
        if step == "bad_schema":
            return self._send(handler, 200, candidate('{"summary": "only one field", "stated_label": '))
        if step == "blocked":
            return self._send(
                handler, 200, {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "fake-gemini"}
            )
        if step == "safety":
            return self._send(handler, 200, candidate(None, "SAFETY"))
        if step == "empty":
            return self._send(handler, 200, candidate(None, "STOP"))
        raise ValueError(f"unknown fake step {step!r}")
