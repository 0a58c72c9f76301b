"""The one image viewer of the app: zoom, pan, reset, window/level with presets, the map's opacity and colours.

Used on Analyze, in a case's detail (Case Gallery), in Model Limits and in the quiz. It takes arrays already
computed (the radiograph, the coarse map, the lung mask, marker boxes, a student's mark) and redraws them with
cheap numpy on every slider move (core.explain.view). Zoom and pan are Plotly's, in the browser: the picture
is one image trace, drawn by a small component (viewer_frontend/index.html) rather than st.plotly_chart, which
mounts a new chart for every changed figure and so loses the zoom. The zoom outlives window/level and map
changes; "Reset view" (which also restores the settings) and a double-click show the whole picture again.
With `mark_key` the picture is drawn as a click surface instead (streamlit-image-coordinates), so the quiz's
click-to-mark works on the same windowed picture; there the zoom is a factor and an area, cropped on the server
(core.teaching.click_marks.MarkView), so that a click still maps to one pixel of the whole image.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.analysis import DISCLAIMER
from core.explain.display import COLOUR_MAPS, colour_scale
from core.explain.view import ViewSettings, compose_view, fit_for_display
from core.formatting import number
from core.imaging.window import DEFAULT, PRESETS, Window
from core.settings import cache_dir
from pages.i18n_ui import N_, _, language, shown_as

CHART_HEIGHT = 460  # px
MARK_WIDTH = 448  # px: the quiz's click surface, the 224 px library images at twice their size
CUSTOM = "custom"  # the preset shown once the sliders leave every preset
CUSTOM_LABEL = N_("Custom (sliders)")
FRONTEND = Path(__file__).with_name("viewer_frontend")
ZOOM_HINT = N_("Scroll or drag a box to zoom, drag with the pan tool to move, double-click to see the whole picture.")


@dataclass(frozen=True)
class Downloads:
    """What the viewer offers to download under the picture."""

    file_stem: str  # e.g. "case-12": names the files
    model_version: str | None = None
    figures_json: bytes | None = None  # core.exports.case_figures, ready


def _keys(key: str) -> dict[str, str]:
    names = ("preset", "level", "width", "opacity", "colours", "map", "resets", "mark_zoom", "mark_across", "mark_down")
    return {name: f"{key}_{name}" for name in names}


def _apply_preset(key: str) -> None:
    k = _keys(key)
    chosen = st.session_state.get(k["preset"])
    if chosen in PRESETS:
        window = PRESETS[chosen][0]
        st.session_state[k["level"]], st.session_state[k["width"]] = float(window.level), float(window.width)


def _slider_moved(key: str) -> None:
    """The preset box follows the sliders: it names a preset only while they match it."""
    k = _keys(key)
    current = Window(st.session_state[k["level"]], st.session_state[k["width"]])
    st.session_state[k["preset"]] = next((name for name, (w, _label) in PRESETS.items() if w == current), CUSTOM)


def _reset(key: str, colour_map: str, opacity: float) -> None:
    k = _keys(key)
    st.session_state[k["preset"]] = "default"
    st.session_state[k["level"]], st.session_state[k["width"]] = float(DEFAULT.level), float(DEFAULT.width)
    st.session_state[k["opacity"]], st.session_state[k["colours"]], st.session_state[k["map"]] = (
        opacity,
        colour_map,
        True,
    )
    st.session_state[k["resets"]] = st.session_state.get(k["resets"], 0) + 1  # a new uirevision: Plotly drops the zoom
    if k["mark_zoom"] in st.session_state:  # the click surface's zoom, too
        st.session_state[k["mark_zoom"]] = 1


def _controls(key: str, has_map: bool, colour_map: str, opacity: float) -> ViewSettings:
    k = _keys(key)
    st.session_state.setdefault(k["preset"], "default")
    st.session_state.setdefault(k["level"], float(DEFAULT.level))
    st.session_state.setdefault(k["width"], float(DEFAULT.width))
    presets = {name: label for name, (_w, label) in PRESETS.items()} | {CUSTOM: CUSTOM_LABEL}
    cols = st.columns([3, 2, 2, 1.5], vertical_alignment="bottom")
    cols[0].selectbox(
        _("Window/level preset"),
        list(presets),
        format_func=shown_as(presets),
        key=k["preset"],
        on_change=_apply_preset,
        args=(key,),
        help=_(
            "Which grey levels fill the screen's black-to-white range. These films carry no Hounsfield units: "
            "the presets are ranges of the stored 8-bit grey levels."
        ),
    )
    level = cols[1].slider(
        _("Level (lower = brighter)"), 0.0, 255.0, step=0.5, key=k["level"], on_change=_slider_moved, args=(key,)
    )
    width = cols[2].slider(
        _("Window (narrower = more contrast)"),
        1.0,
        512.0,
        step=1.0,
        key=k["width"],
        on_change=_slider_moved,
        args=(key,),
    )
    cols[3].button(
        _("Reset view"),
        key=f"{key}_reset",
        icon=":material/restart_alt:",
        on_click=_reset,
        args=(key, colour_map, opacity),
        help=_("Back to the stored grey levels, the default map settings and the whole picture."),
    )
    if not has_map:
        return ViewSettings(window=Window(level, width), show_map=False)
    st.session_state.setdefault(k["opacity"], opacity)
    st.session_state.setdefault(k["colours"], colour_map)
    st.session_state.setdefault(k["map"], True)
    cols = st.columns([1, 3, 3], vertical_alignment="bottom")
    show_map = cols[0].toggle(_("Map"), key=k["map"], help=_("Show or hide the heatmap over the image."))
    chosen_opacity = cols[1].slider(_("Heatmap opacity"), 0.0, 1.0, step=0.05, key=k["opacity"])
    chosen_colours = cols[2].selectbox(
        _("Colour map"), list(COLOUR_MAPS), format_func=shown_as(COLOUR_MAPS), key=k["colours"]
    )
    return ViewSettings(Window(level, width), chosen_colours, chosen_opacity, show_map)


def mark_view_of(key: str, shape: tuple[int, int]):
    """The area the viewer `key`'s click surface shows now, for an image of `shape` as the viewer shows it.

    Read from the zoom controls' state, so a page can map a click before the viewer is drawn on this run.
    """
    from core.teaching.click_marks import mark_view

    k = _keys(key)
    centre = (st.session_state.get(k["mark_across"], 50) / 100, st.session_state.get(k["mark_down"], 50) / 100)
    return mark_view(shape, st.session_state.get(k["mark_zoom"], 1), centre)


def _mark_zoom_controls(key: str) -> None:
    from core.teaching.click_marks import ZOOMS

    k = _keys(key)
    cols = st.columns([2, 3, 3], vertical_alignment="bottom")
    zoom = cols[0].selectbox(
        _("Zoom"),
        ZOOMS,
        format_func={factor: _("{factor}×", factor=factor) for factor in ZOOMS}.__getitem__,  # worded now, as shown_as
        key=k["mark_zoom"],
        help=_("Enlarge part of the picture to place your mark more precisely."),
    )
    if zoom > 1:
        where = _("Which part of the picture the zoom shows: 0% is the left or top edge, 100% the right or bottom.")
        cols[1].slider(_("Area across"), 0, 100, 50, step=5, format="%d%%", key=k["mark_across"], help=where)
        cols[2].slider(_("Area down"), 0, 100, 50, step=5, format="%d%%", key=k["mark_down"], help=where)


def _click_surface(key: str, picture: np.ndarray, mark: tuple[float, float] | None, mark_key: str) -> None:
    """The picture's zoomed area at the click surface's width, with the mark if the area shows it."""
    from streamlit_image_coordinates import streamlit_image_coordinates

    from core.teaching.click_marks import draw_mark

    _mark_zoom_controls(key)
    view = mark_view_of(key, picture.shape[:2])
    area = Image.fromarray(np.ascontiguousarray(view.crop(picture)))
    shown = np.asarray(area.resize((MARK_WIDTH, round(MARK_WIDTH * view.height / view.width)), Image.BICUBIC))
    at = view.to_shown(mark) if mark is not None else None
    if at is not None:
        shown = draw_mark(shown, at)
    streamlit_image_coordinates(shown, width=MARK_WIDTH, key=mark_key, cursor="crosshair", png_compression_level=1)


def _png_data_uri(picture: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG", compress_level=1)  # speed over size: it is redrawn often
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _figure(picture: np.ndarray, revision: str) -> go.Figure:
    fig = go.Figure(go.Image(source=_png_data_uri(picture), hovertemplate="x %{x:.0f} · y %{y:.0f}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain")
    fig.update_layout(
        height=CHART_HEIGHT,
        margin=dict(l=0, r=0, t=0, b=0),
        dragmode="zoom",
        uirevision=revision,
        hovermode="closest",
        paper_bgcolor="rgba(0,0,0,0)",  # the app's own background, light or dark
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


CHART_CONFIG = {
    "scrollZoom": True,
    "displaylogo": False,
    "doubleClick": "reset",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}


@functools.cache
def _chart_component():
    """The picture's component, served from a folder holding its page and the plotly.js that plotly ships.

    Streamlit serves a component's files from one folder and refuses links out of it, so the two are copied
    once into a folder named by their content (a new plotly or page gets a new folder). It is in the user's
    own cache (CXR_CACHE_DIR), not a shared temporary folder where another user could put a page first.
    """
    import plotly
    from streamlit.components.v1 import declare_component

    page = (FRONTEND / "index.html").read_bytes()
    script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    digest = hashlib.sha256(page + plotly.__version__.encode()).hexdigest()[:16]
    served = cache_dir() / "viewer" / digest
    if not (served / "index.html").is_file():
        served.mkdir(parents=True, exist_ok=True)
        staged = served / f".plotly.min.js.{os.getpid()}"
        shutil.copyfile(script, staged)
        os.replace(staged, served / "plotly.min.js")  # whole or absent, for a second process starting now
        staged = served / f".index.html.{os.getpid()}"
        staged.write_bytes(page)
        os.replace(staged, served / "index.html")  # last: it marks the folder complete
    return declare_component("cxr_viewer", path=str(served))


def _figure_words(caption: str, settings: ViewSettings, model_version: str | None):
    from core.exports.figure import FigureWords

    lang = language()
    model = _("Model {version}", version=model_version) if model_version else _("No model output")
    window = _(
        "window/level {level}/{width}",
        level=number(settings.window.level, 1, lang),
        width=number(settings.window.width, 0, lang),
    )
    return FigureWords(
        title=caption,
        model_line=f"{model} · {window}",
        low=_("low"),
        high=_("high"),
        notice=_(DISCLAIMER),
    )


def _downloads(key: str, picture: np.ndarray, caption: str, settings: ViewSettings, downloads: Downloads) -> None:
    from core.exports.figure import figure_png
    from core.fonts import FontMissing, korean_font

    cols = st.columns(2)
    try:
        korean_font()
    except FontMissing:
        cols[0].caption(_("PNG export needs a font with Korean glyphs: install fonts-noto-cjk or set CXR_KOREAN_FONT."))
    else:
        words = _figure_words(caption, settings, downloads.model_version)  # translated now: the callable runs later
        colour_map = settings.colour_map if settings.show_map and settings.opacity > 0 else None
        cols[0].download_button(
            _("Download the picture (PNG)"),
            data=lambda: figure_png(picture, words, colour_map),
            file_name=f"{downloads.file_stem}.png",
            mime="image/png",
            key=f"{key}_png",
            icon=":material/image:",
            on_click="ignore",
            help=_("As shown, with the colour bar, the model version and the educational notice burned in."),
        )
    if downloads.figures_json is not None:
        cols[1].download_button(
            _("Download the figures (JSON)"),
            data=downloads.figures_json,
            file_name=f"{downloads.file_stem}.json",
            mime="application/json",
            key=f"{key}_json",
            icon=":material/data_object:",
            on_click="ignore",
        )


def image_viewer(
    gray: np.ndarray,
    *,
    key: str,
    caption: str,
    cam: np.ndarray | None = None,
    lung_mask: np.ndarray | None = None,
    marker_boxes: list | None = None,
    mark: tuple[float, float] | None = None,
    mark_key: str | None = None,
    downloads: Downloads | None = None,
    colour_map: str = "jet",
    opacity: float = 0.45,
) -> ViewSettings:
    """Draw the viewer for an (h, w) uint8 grey image; returns the settings the user chose."""
    shown_gray = fit_for_display(gray)
    settings = _controls(key, cam is not None, colour_map, opacity)
    picture = compose_view(shown_gray, settings, cam, lung_mask, marker_boxes)
    if mark_key is not None:
        _click_surface(key, picture, mark, mark_key)
    else:
        if mark is not None:
            from core.teaching.click_marks import draw_mark

            picture = draw_mark(picture, mark)
        revision = f"{key}-{st.session_state.get(_keys(key)['resets'], 0)}"
        figure = json.loads(_figure(picture, revision).to_json())
        # One key for the viewer's life: the frame stays, and Plotly keeps the zoom while uirevision does.
        _chart_component()(figure=figure, config=CHART_CONFIG, height=CHART_HEIGHT, key=f"{key}_chart", default=None)
    st.caption(caption)
    if cam is not None and settings.show_map and settings.opacity > 0:
        st.image(colour_scale(settings.colour_map, 512, 12), width="stretch")
        st.caption(_("Colour bar: low (left) → high (right) evidence for the class."))
    if mark_key is None:
        st.caption(_(ZOOM_HINT))
    if downloads is not None:
        _downloads(key, picture, caption, settings, downloads)
    return settings
