import streamlit as st

from pages.common import coming_later, disclaimer

st.title("Quiz")
disclaimer()
coming_later(
    "Self-check quizzes will live here: pick a published teaching set, call each case NORMAL or "
    "PNEUMONIA with a confidence, then see the ground truth, the model's answer and its heatmap."
)
