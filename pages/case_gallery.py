import streamlit as st

from pages.common import coming_later, disclaimer

st.title("Case Gallery")
disclaimer()
coming_later(
    "The case library will live here: a thumbnail grid of stored cases with filters (ground truth, "
    "prediction, errors, probability, tags), case details, and teaching sets that instructors curate."
)
