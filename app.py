"""The server entry point: `streamlit run app.py` (run.sh does). Home.py is the app; this adds the two HTTP
routes that write and clear the login cookie (core/services/session_cookie.py), which a script cannot do.
"""

import streamlit as st

from core.services.session_cookie import routes

app = st.App("Home.py", routes=routes())
