"""Stored text shown as text: the one place where it is escaped for Markdown, Plotly, file names and CSV.

Everything a user typed or a zip brought (case titles, notes, tags, set names, user names, file names) is
shown through one of these before it reaches a place that interprets it:

    md(text)            inside st.markdown / st.caption / st.info… / labels / st.table cells / _() arguments
                        that are shown as Markdown: the reader sees exactly the characters typed, and no link,
                        image, HTML, heading, list, table, LaTeX or Streamlit directive forms
    md_code(text)       the same text as an inline code span (a tag shown as `tag`)
    plotly_label(text)  a Plotly category, legend name, hover or title text (Plotly reads <b>, <a href>…)
    safe_filename(…)    a download's file name made from a set name or a title: one safe basename
    csv_cell(value)     a CSV cell a spreadsheet will not run as a formula

Plain-text elements (st.text, st.code, st.dataframe cells, text_input values, selectbox options) need none.
"""

from __future__ import annotations

import re
import unicodedata

# Characters with a Markdown meaning wherever they stand (CommonMark, GFM, remark-math, Streamlit's
# :directive[…]); a backslash before ASCII punctuation shows the character itself. `:` and `@` break GFM's
# bare autolinks (http://…, name@host); `!` and `(` `)` need nothing once `[` and `]` are escaped.
_ALWAYS = frozenset("\\`*[]<>~$|&:@")
_LINE_START = frozenset("#-+=")  # a heading, a list item, a setext underline, only at the start of a line
_ORDERED = re.compile(r"^(\d{1,9})([.)])")  # "12." or "12)" opening a line starts a numbered list
_WWW = re.compile(r"(?i)(?<![0-9a-z])(www)\.")  # GFM links www.host without a scheme


def _escaped(body: str) -> str:
    """Each character of `_ALWAYS` behind a backslash; each `_` too, unless its run of underscores stands
    between two letters or digits: intraword `_` never emphasises (CommonMark's flanking rules), so file
    stems such as person1_virus_6 stay as they are."""
    out = []
    for found in re.finditer(r"_+|[^_]+", body):
        piece = found.group(0)
        if piece[0] == "_":
            before = body[found.start() - 1] if found.start() else ""
            after = body[found.end()] if found.end() < len(body) else ""
            out.append(piece if before.isalnum() and after.isalnum() else "\\_" * len(piece))
        else:
            out.append("".join("\\" + ch if ch in _ALWAYS else ch for ch in piece))
    return _WWW.sub(r"\1\\.", "".join(out))


def _line(line: str) -> str:
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    escaped = _escaped(body)
    ordered = _ORDERED.match(escaped)
    if ordered:
        escaped = f"{ordered.group(1)}\\{ordered.group(2)}{escaped[ordered.end() :]}"
    elif escaped[:1] in _LINE_START:
        escaped = "\\" + escaped
    # Leading blanks as character references: four of them would open a code block, and they are kept.
    return indent.replace(" ", "&#32;").replace("\t", "&#9;") + escaped


def md(text: object) -> str:
    """`text` for a Markdown context: what Streamlit displays is the text itself, line breaks kept."""
    if text is None:
        return ""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "  \n".join(_line(line) for line in lines)


def md_code(text: object) -> str:
    """`text` as an inline code span: shown literally, in code style, on one line."""
    body = " ".join(str(text or "").splitlines())
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ") and body.strip()):
        body = f" {body} "
    return f"{fence}{body}{fence}" if body else ""


def plotly_label(text: object) -> str:
    """`text` for a Plotly label: its tags (<b>, <br>, <a href>) as characters; Plotly shows `&lt;` as `<`."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_FORBIDDEN_IN_NAMES = re.compile(r'[\\/:*?"<>|]')  # path separators, and what Windows refuses in a name
_WINDOWS_DEVICES = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$")
MAX_STEM_BYTES = 150  # UTF-8: file systems allow 255 bytes a name, and a Korean letter takes 3


def safe_filename(name: object, extension: str, fallback: str = "download") -> str:
    """A download's basename from stored text: no folders, `..`, control or bidi characters; letters of any
    script (Korean too), digits, spaces and ordinary punctuation kept; at most MAX_STEM_BYTES in UTF-8."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = _FORBIDDEN_IN_NAMES.sub("_", text)
    text = re.sub(r"\.{2,}", ".", " ".join(text.split()))
    text = text.encode()[:MAX_STEM_BYTES].decode(errors="ignore")  # a letter cut in two is dropped whole
    text = re.sub(r"\.{2,}", ".", text).strip(" .-")  # no hidden file, no trailing dot (Windows), no option
    if not text or _WINDOWS_DEVICES.match(text):
        text = fallback
    return f"{text}.{extension}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string opening with = + - @ tab or CR gets a leading `'`.

    Numbers stay numbers (a negative figure is not a formula)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Shown(str):
    """md(text) that stays escaped under a `{name!r}` placeholder too (the quotes around it kept)."""

    _repr: str

    def __new__(cls, value: object) -> _Shown:
        shown = super().__new__(cls, md(value))
        shown._repr = md(repr(value))
        return shown

    def __repr__(self) -> str:
        return self._repr


def md_param(value: object) -> object:
    """A format argument of a Markdown message: text escaped with md (also as `{name!r}`); numbers and None
    as they are, so that `{n:.1f}` still works."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _Shown(value)
