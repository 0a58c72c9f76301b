"""What each method is good and bad at: the teaching half of a method card (the registry holds the facts).

Drawn from the methods' papers, Adebayo et al. (NeurIPS 2018, sanity checks) and the chest X-ray
benchmarks the lab teaches from: Saporta et al., Nature Machine Intelligence 2022 (seven methods'
localisation against radiologists' outlines) and Arun et al., Radiology: AI 2021 (eight methods'
localisation, model-randomisation sensitivity, repeatability and reproducibility).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import N_


@dataclass(frozen=True)
class MethodNotes:
    good: str  # N_-marked: pages show _(notes.good)
    bad: str


METHOD_NOTES = {
    "gradcam": MethodNotes(
        N_(
            "Class-specific, cheap (one forward pass here), stable from run to run; in Saporta et al. it generally "
            "localised pathologies better than the other methods they evaluated, though all fell short of radiologists."
        ),
        N_(
            "Coarse: layer4 is a 7×7 grid, so a map cannot be sharper than a seventh of the film; only positive "
            "evidence is shown, and an upsampled blob can look more precise than it is."
        ),
    ),
    "gradcam_pp": MethodNotes(
        N_("Spreads weight over several regions that each raise the score, where Grad-CAM tends to pick one."),
        N_(
            "Same 7×7 resolution as Grad-CAM; its higher-order terms are approximations, and in the chest X-ray "
            "benchmarks it did not localise better than Grad-CAM."
        ),
    ),
    "scorecam": MethodNotes(
        N_(
            "Gradient-free: each channel is weighted by how much the model's score changes when only that "
            "channel's region is shown, so saturated or noisy gradients do not matter."
        ),
        N_("Slow (one forward pass per layer4 channel: 512 here) and still 7×7 coarse."),
    ),
    "eigencam": MethodNotes(
        N_(
            "Gradient-free and cheap: the first principal component of layer4's activations, a clean picture "
            "of what the last block responds to."
        ),
        N_(
            "Not class-specific: the same map for NORMAL and PNEUMONIA, so it cannot answer 'why this class?'; "
            "a principal component's sign is arbitrary, so its hot and cold can swap."
        ),
    ),
    "layercam": MethodNotes(
        N_(
            "Weights each position by its own positive gradient rather than a channel mean, which keeps "
            "finer detail and works on earlier layers too."
        ),
        N_("On layer4 it is as coarse as Grad-CAM, and usually looks much like it."),
    ),
    "hirescam": MethodNotes(
        N_(
            "Element-wise gradient × activation: provably shows the locations that raised the score (for this "
            "architecture it equals Grad-CAM up to scale)."
        ),
        N_("Same 7×7 resolution; adds little beside Grad-CAM on a ResNet with global average pooling."),
    ),
    "saliency": MethodNotes(
        N_("Pixel-level resolution at the cost of one backward pass; the oldest and simplest gradient map."),
        N_(
            "Noisy and edge-like; maps of raw gradients can look like an edge detector's (Adebayo et al.), and in "
            "Arun et al. every one of the eight methods tested failed at least one trust criterion."
        ),
    ),
    "input_x_gradient": MethodNotes(
        N_("Signed: shows pixels that speak for and against the class; same cost as saliency."),
        N_(
            "Bright pixels dominate simply because they are bright (bone, markers), and it inherits the gradient's noise."
        ),
    ),
    "smoothgrad": MethodNotes(
        N_("Averaging gradients over noisy copies removes much of the speckle of plain saliency."),
        N_(
            "Costs one backward pass per sample; the noise level is a free parameter that changes the picture; "
            "still not class-discriminative at the pixel level."
        ),
    ),
    "integrated_gradients": MethodNotes(
        N_(
            "Axiomatic: the attributions add up to the score difference from the baseline (completeness), so "
            "the map is an accounting of the logit."
        ),
        N_(
            "The answer depends on the baseline: a black image says 'compared with no X-ray at all', which "
            "credits every bright structure; needs dozens of passes."
        ),
    ),
    "integrated_gradients_blur": MethodNotes(
        N_(
            "A blurred copy of the same film as baseline asks 'what do the fine details add?', a question that "
            "suits radiographs better than a black image."
        ),
        N_("The blur width decides which details count as information; as costly as integrated gradients."),
    ),
    "deeplift": MethodNotes(
        N_(
            "Like integrated gradients in one backward pass: contributions relative to a baseline that add up "
            "to the score difference."
        ),
        N_(
            "Needs the network's ReLUs as separate modules (handled on a private copy here); the rescale rule "
            "is an approximation, and the baseline question remains."
        ),
    ),
    "gradient_shap": MethodNotes(
        N_(
            "Expected gradients over random baselines and noise: an approximation of SHAP values that does not "
            "depend on one chosen baseline."
        ),
        N_("Stochastic: without a fixed seed two runs differ, and it needs many samples to settle."),
    ),
    "guided_backprop": MethodNotes(
        N_("Very sharp, edge-rich pictures that look convincing."),
        N_(
            "Barely depends on the class or even on the trained weights: Adebayo et al. found it nearly unchanged "
            "when the model is randomised. It reconstructs the image more than it explains the model."
        ),
    ),
    "guided_gradcam": MethodNotes(
        N_("Combines Grad-CAM's class-specific region with guided backpropagation's sharp detail."),
        N_("Inherits guided backpropagation's weakness: the fine detail is largely image structure, not evidence."),
    ),
    "lrp": MethodNotes(
        N_(
            "Relevance is conserved layer by layer, so the map accounts for the score; rules per layer type "
            "give sharp, less noisy maps than raw gradients. zennit's canonizer merges BatchNorm and handles "
            "ResNet's skip connections."
        ),
        N_(
            "The rules (epsilon, alpha-beta, the flat first layer) are choices that change the map; here it shows "
            "a regular grid pattern from the strided convolutions."
        ),
    ),
    "occlusion": MethodNotes(
        N_(
            "Easy to explain: grey out a patch and see how much the score falls; measures the model's real "
            "behaviour, not a gradient."
        ),
        N_(
            "Slow (one pass per patch position), and its answer depends on patch size, stride and what fills "
            "the patch; a grey patch is itself an unnatural image."
        ),
    ),
    "lime": MethodNotes(
        N_(
            "Model-agnostic: fits a small linear model to predictions on images with superpixels switched off, "
            "so the answer is in regions a person can name."
        ),
        N_(
            "Slow and random (two runs differ unless seeded); the superpixels decide what can be found, and the linear "
            "surrogate can be a poor fit."
        ),
    ),
    "kernel_shap": MethodNotes(
        N_("Shapley values over the same superpixels: a principled share-out of the score among regions."),
        N_(
            "Slow; exact Shapley values are out of reach, so it samples coalitions and the result varies with "
            "the number of samples."
        ),
    ),
}
