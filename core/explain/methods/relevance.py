"""Layer-wise relevance propagation through zennit.

zennit's ResNetCanonizer first merges each BatchNorm into the convolution before it
(SequentialMergeBatchNorm) and turns each BasicBlock's residual addition into a Sum module, so
that every operation that mixes relevance has a rule: LRP's rules are defined for linear layers,
not for a BatchNorm or a bare `+`. It rewrites modules while active, hence the private copy.
"""

from __future__ import annotations

import numpy as np
import torch
from zennit.attribution import Gradient
from zennit.composites import EpsilonAlpha2Beta1, EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from core.explain.methods.context import MethodRun
from core.explain.methods.reduce import signed_channel_sum

COMPOSITES = {"EpsilonPlusFlat": EpsilonPlusFlat, "EpsilonAlpha2Beta1": EpsilonAlpha2Beta1}


def lrp_composite(name: str):
    if name not in COMPOSITES:
        raise ValueError(f"unknown LRP composite {name!r}; expected one of {sorted(COMPOSITES)}")
    return COMPOSITES[name](canonizers=[ResNetCanonizer()])


def lrp_attribution(run: MethodRun) -> torch.Tensor:
    with run.private("lrp") as twin:
        model = run.watched(twin)
        one_hot = torch.eye(int(run.model.fc.out_features))[[run.target]]  # relevance starts as 1 on the target logit
        with Gradient(model=model, composite=lrp_composite(str(run.params["composite"]))) as attributor:
            _, relevance = attributor(run.x.detach().clone(), one_hot)
    return relevance


def lrp(run: MethodRun) -> np.ndarray:
    return signed_channel_sum(lrp_attribution(run))
