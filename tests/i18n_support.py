"""What a page shows, read from an AppTest, and the check that none of it is untranslated English.

A Korean page may keep technical names (Grad-CAM, ROC, DICOM, NORMAL/PNEUMONIA, method names, model
versions, file names, numbers): `english_words` drops those, code spans and URLs, and returns the
ASCII words of four or more letters that are left. Anything it returns is a message that did not
go through the catalogue (or a translation that is missing).
"""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "toast")
LABELLED = (
    "button",
    "text_input",
    "text_area",
    "number_input",
    "selectbox",
    "multiselect",
    "radio",
    "checkbox",
    "toggle",
    "slider",
    "select_slider",
    "date_input",
    "time_input",
    "color_picker",
    "tabs",
    "expander",
    "button_group",
)
ALLOWED = {
    "ROAD",
    "NeurIPS",  # journal and venue names, as published
    "Radiology",
    "Artificial",
    "Intelligence",
    "Nature",
    "Machine",
    # the lab's technical names and labels that stay as they are in every language
    "CXR", "Teaching", "Lab", "ResNet34", "ResNet", "Grad-CAM", "Grad", "CAM", "ROC", "AUC", "DICOM", "PNG", "JPEG",
    "CSV", "JSON", "NORMAL", "PNEUMONIA", "Gemini", "LIME", "KernelSHAP", "Score-CAM", "SmoothGrad", "LRP",
    "ROUGE-L", "ROUGE", "BLEU", "Brier", "Leitner", "Plotly", "English", "safetensors", "python", "users",
    "create", "NAME", "role", "instructor", "marker", "shortcut", "viridis", "cividis", "placeholder-untrained",
    "weights", "classifier", "Telea", "U-Net", "SQLite", "PostgreSQL",
    # explanation methods' technical words and the authors the method cards cite
    "layer4", "ReLU", "BatchNorm", "DeepLIFT", "SHAP", "Shapley", "zennit", "Captum", "Saporta", "Arun", "Adebayo",
    # the Model Card's libraries, data sets and the paper it compares with
    "torchvision", "ImageNet", "Dice", "lungs224", "kermany224", "kermany", "Kermany", "Labs", "scikit-image",
    # the prediction path's engines (the Model Card says which one runs) and what they are compared on
    "torch", "ONNX", "Runtime", "logit",
    # user names and case-library contents the tests make
    "tester", "alice", "carol", "newbie", "bob", "demo",
}  # fmt: skip
_CODE = re.compile(
    r"`[^`]*`|https?://\S+|\S+\.(?:py|png|jpe?g|dcm|zip|csv|json|safetensors)\b|:material/\w+:"
    r"|:[a-z]+(?:-badge|-background)?\[|\b\w+_\w+\b"  # Markdown colours and badges; identifiers, file stems
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]|[A-Za-z]")


def shown_texts(at: AppTest) -> list[str]:
    """Every text the page shows: element bodies, widget labels, help, options, tab and expander labels."""
    texts: list[str] = []
    for kind in TEXT_ELEMENTS:
        for element in getattr(at, kind, []):
            texts.append(str(getattr(element, "value", "") or ""))
    for kind in LABELLED:
        try:
            elements = at.get(kind)
        except Exception:
            continue
        for element in elements:
            for attr in ("label", "help", "placeholder"):
                value = getattr(element, attr, None)
                if isinstance(value, str):
                    texts.append(value)
            options = getattr(element, "options", None)
            if options and kind in ("radio", "selectbox", "multiselect", "select_slider"):
                texts += [str(o) for o in options]
    return [t for t in texts if t]


def english_words(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """ASCII words of 4+ letters that are neither technical names nor inside code spans."""
    stripped = _CODE.sub(" ", text)
    words = []
    for word in _WORD.findall(stripped):
        if len(re.sub(r"[^A-Za-z]", "", word)) < 4 or word in ALLOWED or word in allowed:
            continue
        if re.fullmatch(r"[0-9a-f-]{6,}", word, re.I) and re.search(r"\d", word):
            continue  # a model version or hash
        words.append(word)
    return words


def untranslated(at: AppTest, allowed: set[str] | frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """The shown texts that still carry English words, with those words."""
    found = {}
    for text in shown_texts(at):
        words = english_words(text, allowed)
        if words:
            found[text[:160]] = words
    return found


def chart_texts(at: AppTest) -> list[str]:
    """The words in every Plotly chart: titles, axis titles, legend names and category labels."""
    texts: list[str] = []
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        layout = figure.get("layout", {})
        for key, value in layout.items():
            if key == "title" or key.startswith(("xaxis", "yaxis")):
                title = value.get("text") if key == "title" else (value.get("title") or {}).get("text")
                if title:
                    texts.append(str(title))
        for trace in figure.get("data", []):
            if trace.get("name"):
                texts.append(str(trace["name"]))
            for axis in ("x", "y"):
                values = trace.get(axis)
                if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
                    texts += values
    return texts


def untranslated_charts(at: AppTest, allowed: set[str] | frozenset[str] = frozenset()) -> dict[str, list[str]]:
    found = {}
    for text in chart_texts(at):
        words = english_words(text, allowed)
        if words:
            found[text[:160]] = words
    return found
