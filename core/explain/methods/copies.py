"""Private, cached copies of the classifier for the libraries that hook or rewrite modules.

The shared model serves every session of the app at once, so nothing here may touch it: Captum's
DeepLift and guided backpropagation hook every ReLU, pytorch-grad-cam hooks layer4, and zennit's
canonizer merges BatchNorm into the convolutions while it is active. Those run on a deep copy,
made once per model and per kind, rebuilt when the model's weights change (every in-place write
to a tensor bumps its `_version`), and used by one caller at a time (`lock`).

Kinds:
- "hookable": torchvision's BasicBlock calls one in-place `self.relu` twice. DeepLift keeps the
  input and output of each non-linearity on the module itself, so a module used twice overwrites
  the first call's values before its backward pass ("module is being used more than once") and an
  in-place ReLU makes its input and output the same tensor. The copy gives every use its own
  non-inplace ReLU; it computes the same function as the original, operation for operation.
- "lrp": a plain copy for zennit, whose ResNetCanonizer recognises torchvision's BasicBlock and
  replaces its forward with one whose residual sum is a module that LRP rules can hook.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

KINDS = ("hookable", "lrp")


class SeparateReLUBasicBlock(nn.Module):
    """torchvision's BasicBlock with one non-inplace ReLU per use; the same computation in the same order."""

    def __init__(self, block: BasicBlock):
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.downsample = block.downsample
        self.relu_inner = nn.ReLU()
        self.relu_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu_inner(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu_out(out + identity)


def separate_relus(model: nn.Module) -> nn.Module:
    """A deep copy of a torchvision BasicBlock ResNet whose ReLUs are used once each and not in place."""
    twin = copy.deepcopy(model)
    twin.relu = nn.ReLU()
    for layer_name in ("layer1", "layer2", "layer3", "layer4"):
        layer = getattr(twin, layer_name)
        for index, block in enumerate(layer):
            if not isinstance(block, BasicBlock):
                raise TypeError(
                    f"{layer_name}[{index}] is {type(block).__name__}; only BasicBlock ResNets are supported"
                )
            layer[index] = SeparateReLUBasicBlock(block)
    return twin


def _weights_version(model: nn.Module) -> tuple[int, ...]:
    return tuple(t._version for t in model.state_dict().values())


@dataclass
class PrivateCopy:
    model: nn.Module
    weights_version: tuple[int, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)


_COPIES: weakref.WeakKeyDictionary[nn.Module, dict[str, PrivateCopy]] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def private_copy(model: nn.Module, kind: str) -> PrivateCopy:
    """The cached copy of `model` of this kind, made (or remade after a weight change) on demand."""
    if kind not in KINDS:
        raise ValueError(f"unknown copy kind {kind!r}; expected one of {KINDS}")
    version = _weights_version(model)
    with _GUARD:
        entries = _COPIES.setdefault(model, {})
        entry = entries.get(kind)
        if entry is None or entry.weights_version != version:
            twin = separate_relus(model) if kind == "hookable" else copy.deepcopy(model)
            entry = entries[kind] = PrivateCopy(twin.eval().requires_grad_(False), version)
        return entry


def forget_copy(model: nn.Module, kind: str) -> None:
    """Drop a copy a library may have left in a bad state (e.g. hooks of a cancelled run)."""
    with _GUARD:
        _COPIES.get(model, {}).pop(kind, None)
