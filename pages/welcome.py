import streamlit as st

from pages.auth_ui import require_login
from pages.common import disclaimer
from pages.i18n_ui import _

require_login()

st.title("CXR Teaching Lab")
disclaimer()
st.markdown(
    _(
        "A ResNet34 classifies pediatric chest X-rays as **NORMAL** or **PNEUMONIA**; Grad-CAM shows\n"
        "where it looked; a report explains the result in plain words. The point is to learn how such\n"
        "a model sees — and where it fails."
    )
)
st.markdown(
    "\n".join(
        [
            _("- **Analyze** — upload a chest X-ray (PNG, JPEG or DICOM) and see the prediction and heatmap."),
            _("- **Case Gallery** — browse the case library and curate teaching sets."),
            _("- **Model Limits** — cases where the heatmap sits on a marker, a rib edge or the border."),
            _("- **Quiz** — test yourself against the library, and against the model."),
            _("- **Model Card** — how the model was trained and how well it does."),
        ]
    )
)
