import streamlit as st

from pages.auth_ui import require_login
from pages.common import disclaimer
from pages.i18n_ui import _
from pages.navigation import pages_for

user = require_login()

st.title("CXR Teaching Lab")
disclaimer()
st.markdown(
    _(
        "A ResNet34 classifies pediatric chest X-rays as **NORMAL** or **PNEUMONIA**; Grad-CAM shows\n"
        "where it looked; a report explains the result in plain words. The point is to learn how such\n"
        "a model sees — and where it fails."
    )
)
# Only the pages this role may open, as in the sidebar (pages/navigation.py).
st.markdown("\n".join(f"- **{_(page.title)}** — {_(page.blurb)}" for page in pages_for(user) if page.blurb))
