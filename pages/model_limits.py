import streamlit as st

from pages.common import coming_later, disclaimer

st.title("Model Limits")
disclaimer()
coming_later(
    "The model-limit gallery will live here: cases where the heatmap sits on the burned-in \"R\" "
    "marker, rib edges or the image border instead of the lungs, with counterfactual checks."
)
