"""A report against an instructor's reference interpretation: ROUGE-L (rouge-score) and BLEU (sacrebleu).

rouge-score's default tokenizer keeps only ASCII letters and digits, which would reduce Korean to
nothing, so Korean text is split on Unicode word characters instead; BLEU uses sacrebleu's
'13a' tokenizer for English and character tokens for Korean (no Korean morphological analyser here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.reports.content import SECTION_KEYS, check_language


class _UnicodeWords:
    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())


@dataclass(frozen=True)
class ReferenceScores:
    rouge_l_f: float  # 0..1
    rouge_l_precision: float
    rouge_l_recall: float
    bleu: float  # 0..100, sacrebleu's scale
    language: str


def score_against_reference(report_text: str, reference: str, language: str = "en") -> ReferenceScores:
    import sacrebleu
    from rouge_score import rouge_scorer

    language = check_language(language)
    if not reference.strip():
        raise ValueError("the reference text is empty")
    if language == "en":
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        bleu = sacrebleu.sentence_bleu(report_text, [reference], tokenize="13a")
    else:
        scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_UnicodeWords())
        bleu = sacrebleu.sentence_bleu(report_text, [reference], tokenize="char")
    rouge = scorer.score(reference, report_text)["rougeL"]
    return ReferenceScores(
        round(rouge.fmeasure, 4),
        round(rouge.precision, 4),
        round(rouge.recall, 4),
        round(float(bleu.score), 2),
        language,
    )


def sections_text(sections: dict) -> str:
    """A report's four sections as plain text (no headings or notice line), the text that gets scored."""
    return "\n\n".join(str(sections.get(key, "")).strip() for key in SECTION_KEYS if str(sections.get(key, "")).strip())


def score_report_content(content: dict, language: str, reference: str) -> ReferenceScores:
    """Score a stored report's content (as kept in ReportRecord.content / the reports table) against a reference."""
    return score_against_reference(sections_text(content.get("sections", {})), reference, language)


def scores_line(scores: ReferenceScores) -> str:
    return f"ROUGE-L {scores.rouge_l_f:.2f} · BLEU {scores.bleu:.0f}"
