"""Hostile stored text, and the check that a rendered page shows it as text (tests/test_security_render.py).

PAYLOADS are stored as titles, notes, tags, set names, reviewer names, file names…; `markdown_texts(at)`
gathers every string of an AppTest page that Streamlit renders as Markdown, and `inert(text)` says what in
one of them would run or fetch: HTML, a link or an image, a bare URL GFM would turn into a link.
"""

from __future__ import annotations

import json
import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![t](http://evil.example/p.png)",
    "**bold**",
    "# heading",
    "폐렴 의심: 우하엽 경화 #12 (R 표지)",
    "a` ![t](http://evil.example/q.png) `b",  # closes a code span it is put in, then an image
    '=HYPERLINK("http://evil.example")',
]
FORMULA = PAYLOADS[-1]
KOREAN = PAYLOADS[6]


def line(kind: str, limit: int = 200, start: int = 0) -> str:
    """The payloads on one line, the spreadsheet formula first (a CSV cell opens with it), tagged with `kind`
    so that each stored field is told apart on the page; as many payloads as fit in `limit` characters, from
    the `start`-th on (short fields take turns)."""
    text = f"{FORMULA} {kind}"
    others = PAYLOADS[:-1]
    for payload in others[start:] + others[:start]:
        if len(text) + 1 + len(payload) <= limit:
            text += " " + payload
    return text


NOTES = "\n".join(PAYLOADS)  # each payload opening a line: "# heading" would be a heading there

# A CommonMark parser with GFM's tables and strikethrough, HTML on (as Streamlit's unsafe_allow_html would
# be): the reference for what a Markdown string turns into.
PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
PARSER.validateLink = lambda url: True  # a javascript: link counts as a link, whatever a renderer then does

# Fields of an element's proto that Streamlit shows as plain text (or are not shown): a widget's value, a
# selectbox's options, code, preformatted text, data. Every other string field is rendered as Markdown.
PLAIN = {
    "*": {"id", "form_id", "key", "url", "default", "value", "raw_value", "raw_values", "placeholder", "icon"},
    "selectbox": {"options"},
    "multiselect": {"options"},
    "text": {"body"},
    "code": {"code_text", "language"},
    "json": {"body"},
    "plotly_chart": {"spec", "config", "theme"},
    "exception": {"message", "stack_trace", "type"},
    "html": {"body"},  # st.html: only pages/auth_ui.py's cookie sync, built from fixed routes and a token
}


def _strings(message, plain: set[str]):
    for descriptor, value in message.ListFields():
        if descriptor.name in plain:
            continue
        single = isinstance(value, (str, bytes, int, float)) or hasattr(value, "ListFields")
        values = [value] if single else list(value)  # a repeated field
        for item in values:
            if isinstance(item, str):
                yield item
            elif hasattr(item, "ListFields"):
                yield from _strings(item, plain)


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page renders as Markdown: bodies, labels, help, radio options, tab and expander
    labels, image captions, metric values, st.table cells."""
    found: list[str] = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        kind = getattr(node, "type", "")
        found += _strings(proto, PLAIN["*"] | PLAIN.get(kind, set()))
        if kind == "table":
            frame = node.value
            found += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    return [t for t in found if t]


def plotly_texts(at: AppTest) -> list[str]:
    """Every string in every Plotly figure the page sends (data and layout)."""
    out: list[str] = []

    def walk(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for chart in at.get("plotly_chart"):
        walk(json.loads(chart.proto.spec))
    return out


# Tags a browser would act on (a message's own placeholder such as images/<sha256>.png is not one of them).
_ACTIVE_TAG = re.compile(
    r"(?i)<\s*/?\s*(script|img|iframe|svg|math|a|style|link|meta|object|embed|video|audio|form|input|button|body)\b"
)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)


def inert(text: str) -> list[str]:
    """What in this Markdown string would not be text: HTML tags, links, images, bare URLs (GFM links them)."""
    problems = []
    for token in PARSER.parse(text):
        for t in [token, *(token.children or [])]:
            if t.type in ("html_block", "html_inline") and _ACTIVE_TAG.search(t.content):
                problems.append(f"HTML {t.content!r}")
            elif t.type == "image":
                problems.append(f"image {t.attrGet('src')!r}")
            elif t.type == "link_open":
                problems.append(f"link {t.attrGet('href')!r}")
    outside_code = _CODE_SPAN.sub(" ", text)
    problems += [f"bare URL {u!r}" for u in re.findall(r"(?i)\b(?:https?://|www\.)\S*", outside_code)]
    return problems


def shown(text: str) -> str:
    """What a reader sees of a Markdown string: its text, code spans' content, line breaks as new lines,
    paragraphs apart by a blank line."""
    parts = []
    for token in PARSER.parse(text):
        for t in token.children or []:
            if t.type in ("text", "code_inline"):
                parts.append(t.content)
            elif t.type in ("softbreak", "hardbreak"):
                parts.append("\n")
        if token.type.endswith("_close") and token.block:
            parts.append("\n\n")  # a paragraph ends: what was a blank line
    return "".join(parts)


def assert_page_is_text(at: AppTest, *visible: str) -> str:
    """No element of the page renders stored text as HTML, a link or an image; each of `visible` is shown
    literally by some element. Returns everything shown (for further checks)."""
    assert not at.exception, at.exception
    texts = markdown_texts(at)
    problems = {t[:120]: inert(t) for t in texts if inert(t)}
    assert not problems, problems
    for label in plotly_texts(at):
        assert not _ACTIVE_TAG.search(label), label  # Plotly shows &lt;img as <img, and acts on <a href>
    seen = "\n".join(shown(t) for t in texts)
    for text in visible:
        assert text in seen, f"{text!r} is not shown literally"
    return seen
