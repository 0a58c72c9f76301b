"""A stored report as a Markdown file and as a PDF with its font embedded, in the report's own language.

Both say what the model output and carry the educational notice; the words are the report's language,
not the interface's (a Korean report downloaded from an English session stays Korean).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.fonts import FontFile, korean_font
from core.formatting import percent
from core.reports.content import CLASS_WORDS, HEADINGS, NOTICE, SECTION_KEYS
from core.reports.redaction import redact
from core.reports.render import SOURCE_LINE, sections_of, to_markdown
from core.reports.store import ReportRecord

OUTPUT_LINE = {
    "en": "Model output: {label} · probability of pneumonia {p} · model {model_version}",
    "ko": "모델 출력: {label} · 폐렴 확률 {p} · 모델 {model_version}",
}


@dataclass(frozen=True)
class ReportDocument:
    language: str
    title: str
    output_line: str  # the model's label and probability
    source_line: str
    sections: tuple[tuple[str, str], ...]  # (heading, text)
    notice: str


def document_of(record: ReportRecord) -> ReportDocument:
    lang = record.language
    facts = record.content.get("facts", {})
    label = facts.get("label", "")
    words = SOURCE_LINE[lang]
    source = words["gemini"].format(model=record.llm_model) if record.source == "gemini" else words["offline"]
    version = words["version"].format(
        version=record.version, prompt=record.prompt_version, model_version=record.model_version
    )
    sections = sections_of(record)
    return ReportDocument(
        language=lang,
        title=HEADINGS[lang]["title"],
        output_line=OUTPUT_LINE[lang].format(
            label=CLASS_WORDS[lang].get(label, label),
            p=percent(facts["probability_pneumonia"], language=lang) if "probability_pneumonia" in facts else "—",
            model_version=record.model_version,
        ),
        source_line=f"{source} · {version}",
        sections=tuple((HEADINGS[lang][k], sections.get(k, "").strip() or "—") for k in SECTION_KEYS),
        notice=NOTICE[lang],
    )


def report_markdown(record: ReportRecord) -> bytes:
    """The page's Markdown of the report with the model's output stated under the title (UTF-8)."""
    doc = document_of(record)
    head, _, rest = to_markdown(record).partition("\n")
    return f"{head}\n**{doc.output_line}**\n\n{rest}\n".encode()


def plain(text: str) -> str:
    """Markdown emphasis and code marks dropped: the PDF sets the text as it reads."""
    return re.sub(r"(\*\*|__|`)", "", text).replace("\u2011", "-")


def report_pdf(record: ReportRecord, font: FontFile | None = None) -> bytes:
    """An A4 PDF of the report; the font (Noto Sans CJK by default) is embedded as a subset."""
    from fpdf import FPDF

    doc = document_of(record)
    font = font or korean_font()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(doc.title)
    pdf.add_page()
    pdf.add_font("report", fname=str(font.path), collection_font_number=font.index)

    def paragraph(text: str, size: float, gap: float = 2) -> None:
        pdf.set_font("report", size=size)
        pdf.multi_cell(0, size * 0.5, redact(plain(text)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    paragraph(doc.title, 18, 4)
    paragraph(doc.output_line, 12)
    paragraph(doc.source_line, 9, 5)
    for heading, text in doc.sections:
        paragraph(heading, 13, 1)
        paragraph(text, 11, 4)
    pdf.set_text_color(120, 40, 40)
    paragraph(doc.notice, 10)
    return bytes(pdf.output())
