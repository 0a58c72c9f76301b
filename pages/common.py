"""What every page shares: the one cached model service and the sidebar notices."""
from __future__ import annotations

import streamlit as st

from streamlit.runtime.pages_manager import PagesManager

from core.analysis import DISCLAIMER
from core.model import ModelService

if PagesManager.uses_pages_directory:
    # Streamlit treats a `pages/` folder beside the main script as v1 auto-pages until the
    # first st.navigation call, so a visitor landing straight on /analyze would bypass the
    # router. Switch the process to Home.py's router and rerun this request through it.
    PagesManager.uses_pages_directory = False
    st.rerun()


@st.cache_resource(show_spinner="Loading the classifier…")
def model_service() -> ModelService:
    """One model for every page and every session; loaded once per server process."""
    return ModelService()


def disclaimer() -> None:
    st.info(DISCLAIMER, icon=":material/school:")


def no_trained_model_notice() -> None:
    st.warning(
        "No trained model is installed (`weights/classifier.safetensors` is missing). "
        "The app runs an untrained placeholder so that its plumbing can be tried, and "
        "shows none of its output as a prediction.",
        icon=":material/warning:",
    )


def sidebar() -> None:
    service = model_service()
    with st.sidebar:
        st.caption("CXR Teaching Lab — learn how a chest X-ray AI sees, and where it fails.")
        if service.info.trained:
            st.caption(f"Model: ResNet34 · version `{service.version}`")
        else:
            st.caption("Model: **none trained** (placeholder)")
        st.caption("Educational use only · not a medical device · does not diagnose.")
