"""CXR Teaching Lab domain code: imaging, model, explanations, reports, metrics.

Nothing in this package imports Streamlit; the pages are thin layers over it.
"""
