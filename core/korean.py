"""Korean particles that agree with the word before them: 폐렴을, 정상을, 확률이, 임계값과, 리포트를.

Standard library only, so the reports, the services and the pages can all use it.

A particle's form depends on whether the word ends in a final consonant (받침). The word is read
from its end: a trailing parenthesis such as "폐렴(PNEUMONIA)" or "하부(41.0%)" is skipped, so the
Korean word decides; digits, Latin letters and "%" are read as Korean says them (3 삼, 7 칠,
M 엠, L 엘, % 퍼센트). For 으로/로 a final ㄹ counts as no consonant (서울로, 폐렴으로).
"""

from __future__ import annotations

import re

# particle → (after a final consonant, after a vowel); any of the two forms may be asked for.
PAIRS = {
    "을": ("을", "를"),
    "이": ("이", "가"),
    "은": ("은", "는"),
    "과": ("과", "와"),
    "으로": ("으로", "로"),
    "이며": ("이며", "며"),
    "이고": ("이고", "고"),
    "이라고": ("이라고", "라고"),
}
_FORMS = {form: pair for pair in PAIRS.values() for form in pair}

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among the final consonants
# How Korean reads the last digit or Latin letter: the final consonant's index (0 = none).
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
_ROUND_FINAL = {1: 17, 2: 1, 3: 4, 4: 4}  # 십, 백, 천, 만: a whole number ending in zeros
_TRAILING_NUMBER = re.compile(r"(?<![\d.])(\d+)$")
_LETTER_FINAL = {"l": 8, "m": 16, "n": 4, "r": 8}  # 엘, 엠, 엔, 알; every other letter name ends in a vowel
_PARENTHESIS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")


def final_consonant(word: str) -> int | None:
    """Index of the last syllable's final consonant (0 = none), or None when nothing readable ends the word."""
    text = word.strip()
    while True:  # "폐렴(PNEUMONIA)" → "폐렴"; "하부 (41.0%)" → "하부"
        stripped = _PARENTHESIS.sub("", text)
        if stripped == text or not stripped:
            break
        text = stripped
    text = text.rstrip(" .,;:!?\"'”’»")
    if not text:
        return None
    last = text[-1]
    code = ord(last)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        return (code - _HANGUL_FIRST) % 28
    if last == "%":
        return 0  # 퍼센트
    if last in _DIGIT_FINAL:
        whole = _TRAILING_NUMBER.search(text)  # digits after a decimal point are read one by one
        if whole and last == "0" and whole.group(1).strip("0"):
            zeros = len(whole.group(1)) - len(whole.group(1).rstrip("0"))
            return _ROUND_FINAL.get(zeros % 4 or 4, 4)
        return _DIGIT_FINAL[last]
    if last.isascii() and last.isalpha():
        return _LETTER_FINAL.get(last.lower(), 0)
    return None


def particle(word: str, form: str) -> str:
    """The form of `form`'s particle that agrees with `word`: particle("폐렴", "를") == "을"."""
    pair = _FORMS.get(form) or PAIRS.get(form)
    if pair is None:
        raise ValueError(f"unknown particle {form!r}; known: {', '.join(PAIRS)}")
    final = final_consonant(word)
    if final is None:
        return pair[0]  # nothing to read: the consonant form, as dictionaries list it first
    if pair[0] == "으로":
        return pair[0] if final not in (0, _RIEUL) else pair[1]
    return pair[0] if final else pair[1]


def josa(word: str, form: str) -> str:
    """The word with its agreeing particle attached: josa("폐렴(PNEUMONIA)", "를") == "폐렴(PNEUMONIA)을"."""
    return word + particle(word, form)
