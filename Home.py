"""CXR Teaching Lab: the router and shared sidebar. Run with `streamlit run Home.py`."""
import streamlit as st

from pages.common import sidebar

st.set_page_config(page_title="CXR Teaching Lab", page_icon=":material/radiology:", layout="wide")

navigation = st.navigation(
    {
        "Learn": [
            st.Page("pages/welcome.py", title="Welcome", icon=":material/home:", default=True),
            st.Page("pages/analyze.py", title="Analyze", icon=":material/search:"),
            st.Page("pages/quiz.py", title="Quiz", icon=":material/quiz:"),
        ],
        "Library": [
            st.Page("pages/case_gallery.py", title="Case Gallery", icon=":material/photo_library:"),
            st.Page("pages/model_limits.py", title="Model Limits", icon=":material/flag:"),
        ],
        "About": [st.Page("pages/model_card.py", title="Model Card", icon=":material/description:")],
    }
)
sidebar()
navigation.run()
