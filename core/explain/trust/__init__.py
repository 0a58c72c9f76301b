"""Which map can you trust? Tests of the Explanation Lab's maps against the model they explain.

- randomisation: the model-randomisation sanity check (cascading re-initialisation; verdict rule);
- faithfulness: deletion / insertion on the target log-odds, and ROAD (road.py), against random maps
  of the same smoothness (controls.random_like);
- stability: Captum's max-sensitivity under small label-preserving noise;
- localisation: in-lung share (relevance-mass accuracy) and agreement between methods;
- controls: the Sobel edge map, which ignores the model and must fail; random smooth maps;
- benchmark: all of them per image and summarised over images with bootstrap intervals;
- figures: what the pages call.

    from core.explain.trust import trust_figures, scrambled_maps, load_xai_eval
    figures = trust_figures(model, to_model_input(gray224), target, "gradcam", lung_mask)
    figures["randomization_verdict"], figures["insertion_vs_random"], figures["lung_share"]
"""

from core.explain.trust.benchmark import (
    XAI_EVAL_FILE,
    TrustSettings,
    aggregate,
    bootstrap_ci,
    image_trust,
    load_xai_eval,
    summary_rows,
)
from core.explain.trust.controls import CONTROLS, random_like, sobel_edges
from core.explain.trust.faithfulness import deletion_insertion, faithfulness
from core.explain.trust.figures import gradcam_deletion_insertion, scrambled_maps, trust_figures
from core.explain.trust.maps import compute_maps, trust_names
from core.explain.trust.randomisation import (
    LEVEL_TITLES,
    LEVELS,
    VERDICT_LEVEL,
    VERDICT_RULE,
    VERDICT_THRESHOLD,
    RandomisationResult,
    randomisation_check,
    randomised_models,
)
from core.explain.trust.road import road_scores
from core.explain.trust.stability import decision_logodds, max_sensitivity

__all__ = [
    "CONTROLS",
    "LEVELS",
    "LEVEL_TITLES",
    "VERDICT_LEVEL",
    "VERDICT_RULE",
    "VERDICT_THRESHOLD",
    "XAI_EVAL_FILE",
    "RandomisationResult",
    "TrustSettings",
    "aggregate",
    "bootstrap_ci",
    "compute_maps",
    "decision_logodds",
    "deletion_insertion",
    "faithfulness",
    "gradcam_deletion_insertion",
    "image_trust",
    "load_xai_eval",
    "max_sensitivity",
    "random_like",
    "randomisation_check",
    "randomised_models",
    "road_scores",
    "scrambled_maps",
    "sobel_edges",
    "summary_rows",
    "trust_figures",
    "trust_names",
]
