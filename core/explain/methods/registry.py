"""The registry of explanation methods: what each computes, its library, parameters, citation and reduction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.explain.methods import activation, gradient, perturbation, relevance
from core.explain.methods.context import MethodRun
from core.i18n import N_

FAMILIES = ("activation", "gradient", "relevance", "perturbation")
BACKWARD_COST = 3.0  # a forward and backward pass cost about three forward passes (for progress weights)


@dataclass(frozen=True)
class Method:
    name: str
    family: str
    computes: str  # one line: what the map is (N_-marked: pages show it translated)
    library: str  # the call that computes it
    reduction: str  # how the library's output becomes one (H, W) map (N_-marked)
    citation: str
    compute: Callable[[MethodRun], np.ndarray]
    defaults: dict = field(default_factory=dict)
    slow: bool = False
    signed: bool = False  # True: positive values are evidence for the target, negative against it
    class_specific: bool = True  # False: the map does not depend on the target (EigenCAM)
    # Images the method passes through the model, for progress; `backward` marks gradient passes.
    images: Callable[[dict, MethodRun], int] = lambda params, run: 1
    backward: bool = True  # False: forward passes only (run without autograd)
    private: str | None = None  # the kind of private model copy the library needs (copies.py)

    def params(self, overrides: dict | None = None) -> dict:
        unknown = set(overrides or {}) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {sorted(unknown)}; it takes {sorted(self.defaults)}")
        return {**self.defaults, **(overrides or {})}

    def cost(self, params: dict, run: MethodRun) -> float:
        return self.images(params, run) * (BACKWARD_COST if self.backward else 1.0)


# Each reduction is one whole message (N_), so that a page can translate it.
CAM_REDUCTION = N_("positive part, min-max scaled, bilinearly upsampled to the input grid and scaled 0..1 again")
EIGENCAM_REDUCTION = N_(
    "positive part, min-max scaled, bilinearly upsampled to the input grid and scaled 0..1 again; "
    "the SVD's sign is arbitrary, so the map may be the complement"
)
ABS_SUM = N_("sum over the 3 input channels of absolute values")
SMOOTHGRAD_REDUCTION = N_(
    "mean raw gradient over the noisy samples, then sum over the 3 input channels of absolute values"
)
SIGNED_SUM = N_("signed sum over the 3 input channels (a pixel's total contribution)")
CHANNEL_MEAN = N_("channel mean (the patch / superpixel spans all channels, which carry one value)")
SUPERPIXEL_REDUCTION = N_(
    "channel mean (the patch / superpixel spans all channels, which carry one value); one value per superpixel"
)
IG_PARAMS = {"baseline": "black", "blur_sigma": 12.0, "steps": 32, "method": "gausslegendre", "internal_batch_size": 16}


def _superpixel_surrogate(name: str, computes: str, library: str, citation: str, compute) -> Method:
    """LIME and KernelSHAP: the same superpixels, samples and baseline, so that their maps can be compared."""
    return Method(
        name,
        "perturbation",
        computes,
        library,
        SUPERPIXEL_REDUCTION,
        citation,
        compute,
        defaults={
            "n_segments": 50,
            "compactness": 0.1,
            "samples": 200,
            "baseline": "mean grey",
            "perturbations_per_eval": 16,
            "seed": 0,
        },
        slow=True,
        signed=True,
        images=lambda p, run: 1 + int(p["samples"]),
        backward=False,
    )


def _layer4_channels(run: MethodRun) -> int:
    return int(run.model.fc.in_features)


_METHODS = [
    Method(
        "gradcam",
        "activation",
        N_("layer4 activations weighted by the target logit's mean gradient, ReLU (computed from the fc weights)"),
        "core.explain.gradcam.fast_gradcam (forward only; equal to pytorch-grad-cam GradCAM, tested)",
        CAM_REDUCTION,
        "Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra. Grad-CAM. ICCV 2017",
        activation.gradcam,
        backward=False,
    ),
    Method(
        "gradcam_pp",
        "activation",
        N_("Grad-CAM with channel weights from positive second-order gradient terms (better for several regions)"),
        "pytorch_grad_cam.GradCAMPlusPlus(target_layers=[layer4])",
        CAM_REDUCTION,
        "Chattopadhay, Sarkar, Howlader, Balasubramanian. Grad-CAM++. WACV 2018",
        activation.gradcam_pp,
        private="hookable",
    ),
    Method(
        "scorecam",
        "activation",
        N_("layer4 channels weighted by the softmaxed target logit of the image masked by each upsampled channel"),
        "pytorch_grad_cam.ScoreCAM(target_layers=[layer4])",
        CAM_REDUCTION,
        "Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. Score-CAM. CVPR Workshops 2020",
        activation.scorecam,
        defaults={"batch_size": 32},
        slow=True,
        images=lambda p, run: 1 + _layer4_channels(run),
        backward=False,
        private="hookable",
    ),
    Method(
        "eigencam",
        "activation",
        N_("projection of layer4 activations on their first principal component (class-agnostic)"),
        "pytorch_grad_cam.EigenCAM(target_layers=[layer4])",
        EIGENCAM_REDUCTION,
        "Muhammad, Yeasin. Eigen-CAM. IJCNN 2020",
        activation.eigencam,
        class_specific=False,
        backward=False,
        private="hookable",
    ),
    Method(
        "layercam",
        "activation",
        N_("layer4 activations weighted position by position by the positive gradient of the target logit"),
        "pytorch_grad_cam.LayerCAM(target_layers=[layer4])",
        CAM_REDUCTION,
        "Jiang, Zhang, Hou, Cheng, Wei. LayerCAM. IEEE Transactions on Image Processing 2021",
        activation.layercam,
        private="hookable",
    ),
    Method(
        "hirescam",
        "activation",
        N_("layer4 activations times the gradient element-wise, summed over channels (no spatial averaging)"),
        "pytorch_grad_cam.HiResCAM(target_layers=[layer4])",
        CAM_REDUCTION,
        "Draelos, Carin. Use HiResCAM instead of Grad-CAM for faithful explanations of CNNs. arXiv:2011.08891, 2020",
        activation.hirescam,
        private="hookable",
    ),
    Method(
        "saliency",
        "gradient",
        N_("magnitude of the target logit's gradient with respect to each input pixel"),
        "captum.attr.Saliency.attribute(abs=True)",
        ABS_SUM,
        "Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. ICLR Workshop 2014",
        gradient.saliency,
    ),
    Method(
        "input_x_gradient",
        "gradient",
        N_("input times gradient: a first-order estimate of each pixel's contribution to the logit"),
        "captum.attr.InputXGradient.attribute",
        SIGNED_SUM,
        "Shrikumar, Greenside, Shcherbina, Kundaje. Not Just a Black Box. arXiv:1605.01713, 2016",
        gradient.input_x_gradient,
        signed=True,
    ),
    Method(
        "smoothgrad",
        "gradient",
        N_("gradient averaged over noisy copies of the image, then its magnitude"),
        "captum.attr.NoiseTunnel(Saliency).attribute(nt_type='smoothgrad', abs=False, nt_samples_batch_size=samples)",
        SMOOTHGRAD_REDUCTION,
        "Smilkov, Thorat, Kim, Viégas, Wattenberg. SmoothGrad. ICML Workshop on Visualization for Deep Learning 2017",
        gradient.smoothgrad,
        defaults={"samples": 16, "noise_level": 0.15, "seed": 0},
        images=lambda p, run: int(p["samples"]),
    ),
    Method(
        "integrated_gradients",
        "gradient",
        N_("gradients integrated along the straight path from a black image, times the input difference"),
        "captum.attr.IntegratedGradients.attribute(baselines=black, internal_batch_size=...)",
        SIGNED_SUM,
        "Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. ICML 2017",
        gradient.integrated_gradients,
        defaults=dict(IG_PARAMS),
        signed=True,
        images=lambda p, run: int(p["steps"]),
    ),
    Method(
        "integrated_gradients_blur",
        "gradient",
        N_("integrated gradients from a blurred copy of the image: what the fine detail adds"),
        "captum.attr.IntegratedGradients.attribute(baselines=Gaussian-blurred image)",
        SIGNED_SUM,
        "Sundararajan, Taly, Yan. ICML 2017; blurred baseline: Sturmfels, Lundberg, Lee. Visualizing the Impact of "
        "Feature Attribution Baselines. Distill 2020",
        gradient.integrated_gradients,
        defaults={**IG_PARAMS, "baseline": "blur"},
        signed=True,
        images=lambda p, run: int(p["steps"]),
    ),
    Method(
        "deeplift",
        "gradient",
        N_("contributions relative to a black image, propagated with DeepLIFT's rescale rule"),
        "captum.attr.DeepLift(copy with one non-inplace ReLU per use).attribute(baselines=black)",
        SIGNED_SUM,
        "Shrikumar, Greenside, Kundaje. Learning Important Features Through Propagating Activation Differences. "
        "ICML 2017",
        gradient.deeplift,
        defaults={"baseline": "black", "blur_sigma": 12.0},
        signed=True,
        images=lambda p, run: 2,
        private="hookable",
    ),
    Method(
        "gradient_shap",
        "gradient",
        N_(
            "expected gradients × (input − baseline) over random points between noisy inputs and baselines (SHAP values)"
        ),
        "captum.attr.GradientShap.attribute(baselines=[black, blurred])",
        SIGNED_SUM,
        "Lundberg, Lee. A Unified Approach to Interpreting Model Predictions. NeurIPS 2017",
        gradient.gradient_shap,
        defaults={"baselines": "black+blur", "blur_sigma": 12.0, "samples": 16, "stdevs": 0.1, "seed": 0},
        signed=True,
        images=lambda p, run: int(p["samples"]),
    ),
    Method(
        "guided_backprop",
        "gradient",
        N_("gradient with only positive signals passed back through each ReLU (fine edges, barely class-specific)"),
        "captum.attr.GuidedBackprop(copy with one non-inplace ReLU per use).attribute",
        ABS_SUM,
        "Springenberg, Dosovitskiy, Brox, Riedmiller. Striving for Simplicity. ICLR Workshop 2015",
        gradient.guided_backprop,
        private="hookable",
    ),
    Method(
        "guided_gradcam",
        "gradient",
        N_("guided backpropagation times the upsampled Grad-CAM: fine detail where Grad-CAM looks"),
        "captum.attr.GuidedGradCam(copy, layer4).attribute(interpolate_mode='bilinear')",
        ABS_SUM,
        "Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra. Grad-CAM. ICCV 2017",
        gradient.guided_gradcam,
        defaults={"interpolate_mode": "bilinear"},
        images=lambda p, run: 2,
        private="hookable",
    ),
    Method(
        "lrp",
        "relevance",
        N_("the target logit redistributed layer by layer onto the pixels, conserving relevance (LRP)"),
        "zennit.attribution.Gradient(composite=EpsilonPlusFlat(canonizers=[ResNetCanonizer()]))",
        SIGNED_SUM,
        "Bach, Binder, Montavon, Klauschen, Müller, Samek. On Pixel-Wise Explanations by Layer-Wise Relevance "
        "Propagation. PLOS ONE 2015; composites: Kohlbrenner et al. Towards Best Practice in Explaining Neural "
        "Network Decisions with LRP. IJCNN 2020",
        relevance.lrp,
        defaults={"composite": "EpsilonPlusFlat"},
        signed=True,
        private="lrp",
    ),
    Method(
        "occlusion",
        "perturbation",
        N_(
            "drop in the target logit when a square patch is replaced by mean grey, averaged over the patches covering a pixel"
        ),
        "captum.attr.Occlusion.attribute(sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride))",
        CHANNEL_MEAN,
        "Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014",
        perturbation.occlusion,
        defaults={"patch": 32, "stride": 16, "baseline": "mean grey", "perturbations_per_eval": 16},
        slow=True,
        signed=True,
        images=lambda p, run: 1 + perturbation.occlusion_windows(run.grid, int(p["patch"]), int(p["stride"])),
        backward=False,
    ),
    _superpixel_surrogate(
        "lime",
        N_("weights of a sparse linear model fitted to the target logit over random on/off patterns of superpixels"),
        "captum.attr.Lime.attribute(feature_mask=SLIC superpixels)",
        "Ribeiro, Singh, Guestrin. 'Why Should I Trust You?'. KDD 2016; superpixels: Achanta et al. SLIC. TPAMI 2012",
        perturbation.lime,
    ),
    _superpixel_surrogate(
        "kernel_shap",
        N_("Shapley values of the superpixels for the target logit, estimated by kernel-weighted regression"),
        "captum.attr.KernelShap.attribute(feature_mask=SLIC superpixels)",
        "Lundberg, Lee. A Unified Approach to Interpreting Model Predictions. NeurIPS 2017",
        perturbation.kernel_shap,
    ),
]

METHODS: dict[str, Method] = {m.name: m for m in _METHODS}


def method_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """'all', 'a,b' or a list → registry names in the order given; unknown names raise ValueError."""
    names = list(METHODS) if spec == "all" else (spec.split(",") if isinstance(spec, str) else list(spec))
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    if not names:
        raise ValueError("no method named")
    return list(dict.fromkeys(names))
