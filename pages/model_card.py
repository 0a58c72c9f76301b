import streamlit as st

from pages.common import coming_later, disclaimer, model_service, no_trained_model_notice

st.title("Model Card")
disclaimer()
service = model_service()
if not service.info.trained:
    no_trained_model_notice()
else:
    st.metric("Model version", service.version)
    st.json(service.info.meta)
coming_later("Test metrics with confidence intervals, ROC and calibration curves, and a threshold explorer will live here.")
