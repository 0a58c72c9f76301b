import streamlit as st

from pages.common import coming_later, disclaimer
from pages.auth_ui import require_role

require_role("reviewer")  # server-side: a user without the role gets this message and nothing else

st.title("Model Limits")
disclaimer()
coming_later(
    "The model-limit gallery will live here: cases where the heatmap sits on the burned-in \"R\" "
    "marker, rib edges or the image border instead of the lungs, with counterfactual checks."
)
