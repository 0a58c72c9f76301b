"""The viewer's domain (window/level, the composed picture) and its downloads' content (PNG, PDF, Markdown, JSON)."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from core.analysis import DISCLAIMER
from core.explain.view import ViewSettings, compose_view, fit_for_display
from core.exports.case_figures import case_figures, figures_json
from core.exports.figure import WIDTH, FigureWords, figure_png, wrap
from core.exports.report_files import report_markdown, report_pdf
from core.fonts import FontMissing, korean_font
from core.imaging.window import DEFAULT, PRESETS, Window, apply_window, window_table
from core.reports.content import NOTICE
from core.reports.store import ReportRecord

KOREAN_NOTICE = NOTICE["ko"]


def ramp() -> np.ndarray:
    return np.tile(np.arange(256, dtype=np.uint8), (32, 1))


def test_the_default_window_is_the_identity():
    assert np.array_equal(apply_window(ramp(), DEFAULT), ramp())


def test_a_window_stretches_its_range_and_clips_outside_it():
    table = window_table(Window(100.0, 100.0))  # grey 50..150 fills the screen
    assert table[50] == 0 and table[150] == 255 and table[100] in (127, 128)
    assert table[:50].max() == 0 and table[150:].min() == 255
    assert np.all(np.diff(table.astype(int)) >= 0)  # never reverses the grey order


def test_a_narrower_window_raises_contrast_and_a_lower_level_brightens():
    gray = ramp()
    wide, narrow = apply_window(gray, Window(127.5, 255.0)), apply_window(gray, Window(127.5, 100.0))
    assert narrow.std() > wide.std()
    assert apply_window(gray, Window(90.0, 255.0)).mean() > apply_window(gray, Window(160.0, 255.0)).mean()


def test_window_leaves_its_input_alone_and_refuses_what_it_cannot_window():
    gray = ramp()
    before = gray.copy()
    apply_window(gray, PRESETS["lung"][0])
    assert np.array_equal(gray, before)
    with pytest.raises(ValueError):
        apply_window(gray.astype(np.float32), DEFAULT)
    with pytest.raises(ValueError):
        Window(300.0, 10.0)
    with pytest.raises(ValueError):
        Window(100.0, 0.0)


def test_each_preset_shows_the_film_differently():
    gray = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    shown = {name: apply_window(gray, window).tobytes() for name, (window, _label) in PRESETS.items()}
    assert len(set(shown.values())) == len(PRESETS)


def cam() -> np.ndarray:
    heat = np.zeros((7, 7), np.float32)
    heat[2, 4] = 1.0
    return heat


def test_the_composed_view_follows_the_window_the_map_and_its_colours():
    gray = (np.random.default_rng(1).random((224, 224)) * 255).astype(np.uint8)
    plain = compose_view(gray, ViewSettings(show_map=False))
    assert plain.shape == (224, 224, 3) and np.array_equal(plain[..., 0], gray)
    lung = compose_view(gray, ViewSettings(window=PRESETS["lung"][0], show_map=False))
    assert not np.array_equal(lung, plain)
    jet = compose_view(gray, ViewSettings(colour_map="jet", opacity=0.6), cam())
    viridis = compose_view(gray, ViewSettings(colour_map="viridis", opacity=0.6), cam())
    assert not np.array_equal(jet, viridis) and not np.array_equal(jet, plain)
    # Cold pixels stay see-through (display.blend): far from the hot cell the anatomy is untouched.
    assert np.array_equal(jet[200:, :20], plain[200:, :20])
    faint = compose_view(gray, ViewSettings(colour_map="jet", opacity=0.1), cam())
    assert np.abs(faint.astype(int) - plain).sum() < np.abs(jet.astype(int) - plain).sum()
    with pytest.raises(ValueError):
        ViewSettings(colour_map="rainbow")


def test_large_uploads_are_shown_at_most_1024_px():
    big = np.zeros((3000, 1500), np.uint8)
    assert fit_for_display(big).shape == (1024, 512)
    small = np.zeros((224, 224), np.uint8)
    assert fit_for_display(small) is small


@pytest.fixture(scope="module")
def font():
    try:
        return korean_font()
    except FontMissing:
        if __import__("os").environ.get("CI"):
            raise
        pytest.skip("no Korean font installed (scripts/system-deps.sh installs fonts-noto-cjk)")


def test_the_korean_font_is_the_proportional_korean_face(font):
    assert font.path.is_file()
    if font.path.suffix == ".ttc":
        assert font.name.endswith("KR") and "Mono" not in font.name


def test_wrapping_keeps_lines_inside_the_width_in_both_scripts(font):
    from PIL import ImageFont

    face = ImageFont.truetype(str(font.path), 13, index=font.index)
    for text in (DISCLAIMER, KOREAN_NOTICE, "x" * 400):
        lines = wrap(text, face, 300)
        assert len(lines) > 1 and all(face.getlength(line) <= 300 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_the_png_carries_colour_bar_model_line_and_notice(font):
    gray = (np.random.default_rng(2).random((224, 224)) * 255).astype(np.uint8)
    picture = compose_view(gray, ViewSettings(colour_map="cividis", opacity=0.6), cam())
    words = FigureWords("Grad-CAM for PNEUMONIA", "모델 abc123 · 창/레벨 100/160", "낮음", "높음", KOREAN_NOTICE)
    data = figure_png(picture, words, "cividis", font)
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert image.shape[1] == WIDTH and image.shape[0] > WIDTH + 100  # the picture scaled to 640², then the captions
    bare = io.BytesIO()
    Image.fromarray(picture).save(bare, format="PNG")
    assert data != bare.getvalue()
    captions = image[WIDTH:]
    assert (captions < 200).any()  # text and colour bar drawn on the white band below the picture
    without_bar = np.asarray(Image.open(io.BytesIO(figure_png(picture, words, None, font))).convert("RGB"))
    assert without_bar.shape[0] < image.shape[0]
    other_notice = figure_png(
        picture, FigureWords(words.title, words.model_line, "low", "high", DISCLAIMER), None, font
    )
    assert other_notice != figure_png(picture, words, None, font)


def record(language: str, label: str = "PNEUMONIA") -> ReportRecord:
    sections = {
        "summary": f"The model output **{label}**." if language == "en" else f"모델 출력은 **{label}** 입니다.",
        "attention": "Upper right zone." if language == "en" else "오른쪽 위 영역.",
    }
    return ReportRecord(
        image_id="a" * 64,
        model_version="m-0123456789",
        prompt_version="p1",
        llm_model="offline-template",
        language=language,
        source="offline",
        guard_passed=True,
        guard_reasons=(),
        content={"sections": sections, "facts": {"label": label, "probability_pneumonia": 0.9312}},
        version=2,
    )


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    # pypdf reads fpdf2's CID-keyed (CFF) font one byte at a time and yields a NUL before each character;
    # the PDF's own ToUnicode map is right, so the NULs are dropped rather than the text.
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).replace("\x00", "")


@pytest.mark.parametrize(
    ("language", "label_words", "notice"),
    [("en", "Model output: PNEUMONIA", NOTICE["en"]), ("ko", "모델 출력: 폐렴(PNEUMONIA)", KOREAN_NOTICE)],
)
def test_the_pdf_states_the_label_and_the_notice_in_the_report_language(font, language, label_words, notice):
    data = report_pdf(record(language), font)
    assert data.startswith(b"%PDF")
    text = " ".join(pdf_text(data).split())
    assert label_words in text and "93.1%" in text
    assert " ".join(notice.split()) in text
    assert b"/FontFile" in data  # the font travels with the file
    if language == "ko":
        assert "요약" in text and NOTICE["en"][:30] not in text


def test_the_markdown_states_the_label_and_the_notice():
    en, ko = report_markdown(record("en")).decode(), report_markdown(record("ko", "NORMAL")).decode()
    assert "Model output: PNEUMONIA" in en and NOTICE["en"] in en
    assert "모델 출력: 정상(NORMAL)" in ko and KOREAN_NOTICE in ko and "폐렴 확률 93.1%" in ko


def test_the_figures_json_has_its_keys_and_no_pictures():
    figures = case_figures(
        notice=DISCLAIMER,
        source={"kind": "library", "case_id": 3},
        label="NORMAL",
        probability=1.0,
        model_version="m1",
        cam_target="NORMAL",
        cam=cam(),
        cam_summary={"peak": [2, 4]},
        limits={"lung_share": np.float32(0.61234), "lung_mask": b"\x00\x01"},
        truth_label="NORMAL",
    )
    data = json.loads(figures_json(figures))
    assert set(data) == {
        "figures_version",
        "notice",
        "source",
        "truth_label",
        "prediction",
        "cam",
        "cam_summary",
        "limits",
    }
    assert (
        data["prediction"]["probability_pneumonia"] < 1
        and data["prediction"]["probability_pneumonia_text"] == "> 99.9%"
    )
    assert data["limits"] == {"lung_share": 0.6123, "lung_mask": None}
    assert np.array(data["cam"]).shape == (7, 7)
    none = json.loads(
        figures_json(case_figures(notice="n", source={}, label=None, probability=None, model_version=None))
    )
    assert none["prediction"] is None and none["cam"] is None


def test_the_menu_offers_a_light_and_a_dark_theme():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"  # "minimal" hides the menu and its theme choice
    assert {"light", "dark"} <= set(config["theme"]) and "base" not in config["theme"]  # a base pins one theme
