"""CXR Teaching Lab: the router and shared sidebar. Run with `streamlit run Home.py`."""
import streamlit as st

from pages.common import sidebar

st.set_page_config(page_title="CXR Teaching Lab", page_icon="🩻", layout="wide")

navigation = st.navigation(
    {
        "Learn": [
            st.Page("pages/welcome.py", title="Welcome", icon="🏠", default=True),
            st.Page("pages/analyze.py", title="Analyze", icon="🔎"),
            st.Page("pages/quiz.py", title="Quiz", icon="🧠"),
        ],
        "Library": [
            st.Page("pages/case_gallery.py", title="Case Gallery", icon="🗂️"),
            st.Page("pages/model_limits.py", title="Model Limits", icon="🚩"),
        ],
        "About": [st.Page("pages/model_card.py", title="Model Card", icon="📇")],
    }
)
sidebar()
navigation.run()
