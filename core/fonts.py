"""The font that draws Korean (and Latin) text in exported PDFs and PNG figures.

Noto Sans CJK KR (SIL Open Font License 1.1) from Debian's fonts-noto-cjk, which scripts/system-deps.sh
installs; it is not committed (the collection is 16 MB). CXR_KOREAN_FONT names another file. A .ttc
collection holds several fonts: the Korean one is picked by name. Its outlines are CFF, which fpdf2
embeds as a CID font and Pillow draws directly.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core import settings

KNOWN_PATHS = (  # Debian/Ubuntu's fonts-noto-cjk, then Fedora's google-noto-sans-cjk-fonts
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)
FONT_LICENCE = "SIL Open Font License 1.1"


class FontMissing(RuntimeError):
    """No font with Hangul was found: Korean PDFs and figure labels cannot be drawn."""


@dataclass(frozen=True)
class FontFile:
    path: Path
    index: int = 0  # the font's number inside a .ttc collection (0 for a plain file)
    name: str = ""


def _korean_index(path: Path) -> tuple[int, str]:
    """In a collection, the proportional Korean face (its name ends in KR, not a Mono one)."""
    from fontTools.ttLib import TTCollection

    if path.suffix.lower() != ".ttc":
        return 0, path.stem
    with TTCollection(str(path), lazy=True) as collection:
        names = [str(font["name"].getDebugName(4) or "") for font in collection.fonts]
    for i, name in enumerate(names):
        if name.endswith(" KR") and "Mono" not in name:
            return i, name
    return 0, names[0] if names else path.stem


def _fontconfig_candidates() -> list[Path]:
    if shutil.which("fc-list") is None:
        return []
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=ko", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = sorted({Path(line.split(":")[0].strip()) for line in listed.splitlines() if line.strip()})
    # Sans before serif, regular before bold: the report is body text.
    return sorted(files, key=lambda p: ("Serif" in p.name, "Bold" in p.name, p.name))


@lru_cache(maxsize=1)
def korean_font() -> FontFile:
    """The configured font, else a known Noto Sans CJK path, else what fontconfig lists for Korean."""
    chosen = settings.korean_font()
    if chosen is not None:
        if not chosen.is_file():
            raise FontMissing(f"CXR_KOREAN_FONT names no file: {chosen}")
        candidates = [chosen]
    else:
        candidates = [p for p in KNOWN_PATHS if p.is_file()] or _fontconfig_candidates()
    for path in candidates:
        if path.suffix.lower() in (".ttf", ".otf", ".ttc"):
            index, name = _korean_index(path)
            return FontFile(path, index, name)
    raise FontMissing(
        "no font with Korean glyphs was found: install fonts-noto-cjk (scripts/system-deps.sh) or set CXR_KOREAN_FONT"
    )
