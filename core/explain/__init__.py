"""Explanations: where the model looked (Grad-CAM), burned-in markers, and the model-limits probe and flags."""
