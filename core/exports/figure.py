"""The viewer's picture as a PNG that explains itself: colour bar, model version and the notice burned in.

Whoever receives the file sees what the colours mean, which model drew them and that it is teaching
material, without the app beside it. The words come in already translated; the font draws Hangul too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.explain.display import colour_scale
from core.fonts import FontFile, korean_font

WIDTH = 640  # px: the picture is scaled to this width; the captions below it are set at this width
MARGIN = 16
BAR_HEIGHT = 16


@dataclass(frozen=True)
class FigureWords:
    title: str  # e.g. "Grad-CAM for PNEUMONIA"
    model_line: str  # e.g. "Model cxr-resnet34-… · window 100/160"
    low: str  # the colour bar's ends
    high: str
    notice: str  # the educational notice


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Lines no wider than `width`: broken at spaces, and inside a word only when it alone is too wide."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
            continue
        while font.getlength(word) > width:  # Korean runs or long names: break by character
            cut = max(1, next(i for i in range(len(word), 0, -1) if font.getlength(word[:i]) <= width))
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines


def figure_png(
    picture: np.ndarray, words: FigureWords, colour_map: str | None, font_file: FontFile | None = None
) -> bytes:
    """PNG bytes: `picture` ((h, w, 3) uint8) scaled to WIDTH, then the colour bar of `colour_map`
    (none when the map is hidden), the title, the model line and the notice."""
    font_file = font_file or korean_font()
    text_font = ImageFont.truetype(str(font_file.path), 15, index=font_file.index)
    small = ImageFont.truetype(str(font_file.path), 13, index=font_file.index)
    h, w = picture.shape[:2]
    shown = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8)).resize(
        (WIDTH, max(1, round(h * WIDTH / w))), Image.Resampling.BILINEAR
    )
    inner = WIDTH - 2 * MARGIN
    line = round(text_font.size * 1.45)
    blocks: list[tuple[str, ImageFont.FreeTypeFont, tuple[int, int, int]]] = [
        *((t, text_font, (20, 20, 20)) for t in wrap(words.title, text_font, inner)),
        *((t, small, (60, 60, 60)) for t in wrap(words.model_line, small, inner)),
        *((t, small, (150, 30, 30)) for t in wrap(words.notice, small, inner)),
    ]
    bar_block = (BAR_HEIGHT + line + MARGIN) if colour_map else 0
    canvas = Image.new("RGB", (WIDTH, shown.height + MARGIN + bar_block + line * len(blocks) + MARGIN), "white")
    canvas.paste(shown, (0, 0))
    pen = ImageDraw.Draw(canvas)
    y = shown.height + MARGIN
    if colour_map:
        canvas.paste(Image.fromarray(colour_scale(colour_map, inner, BAR_HEIGHT)), (MARGIN, y))
        y += BAR_HEIGHT + 2
        pen.text((MARGIN, y), words.low, font=small, fill=(60, 60, 60))
        pen.text((WIDTH - MARGIN - small.getlength(words.high), y), words.high, font=small, fill=(60, 60, 60))
        y += line + MARGIN
    for text, font, colour in blocks:
        pen.text((MARGIN, y), text, font=font, fill=colour)
        y += line
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=False)
    return out.getvalue()
