"""The Explanation Lab's methods: a registry of activation, gradient, relevance and perturbation maps.

    from core.explain.methods import METHODS, explain, gradient_set, summarise
    results = explain(model, to_model_input(gray), target=1, methods=["gradcam", "saliency"])
    results["saliency"].map  # (224, 224) float32

Each method is computed by its field's library (pytorch-grad-cam, Captum, zennit; Grad-CAM by our
forward-only equivalent) and reduced to one finite map on the model-input grid (reduce.py). The
caller's model is never hooked or changed: libraries that hook or rewrite modules get a private
copy (copies.py).
"""

import warnings

from core.explain.methods.context import Cancelled
from core.explain.methods.gradient_set import GRADIENT_SET, gradient_set
from core.explain.methods.registry import FAMILIES, METHODS, Method, method_names
from core.explain.methods.runner import MethodResult, explain
from core.explain.methods.summary import summarise

# Captum warns on every call that it sets hooks and requires_grad on its own inputs and copies: noise in
# every log, since that is how its methods work.
warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\.")

__all__ = [
    "FAMILIES",
    "GRADIENT_SET",
    "METHODS",
    "Cancelled",
    "Method",
    "MethodResult",
    "explain",
    "gradient_set",
    "method_names",
    "summarise",
]
