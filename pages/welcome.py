import streamlit as st

from pages.auth_ui import require_login
from pages.common import disclaimer

require_login()

st.title("CXR Teaching Lab")
disclaimer()
st.markdown(
    """
A ResNet34 classifies pediatric chest X-rays as **NORMAL** or **PNEUMONIA**; Grad-CAM shows
where it looked; a report explains the result in plain words. The point is to learn how such
a model sees — and where it fails.

- **Analyze** — upload a chest X-ray (PNG, JPEG or DICOM) and see the prediction and heatmap.
- **Case Gallery** — browse the case library and curate teaching sets.
- **Model Limits** — cases where the heatmap sits on a marker, a rib edge or the border.
- **Quiz** — test yourself against the library, and against the model.
- **Model Card** — how the model was trained and how well it does.
"""
)
