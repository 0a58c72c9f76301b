"""The CPU inference runtime of the prediction path: ONNX Runtime for the classifier and the lung U-Net.

Torch stays the reference and the path for training and for every gradient-based explanation. The
prediction path (classifier logits + the layer4 map that the one-pass Grad-CAM needs, and the lung
U-Net of the input check and the limits probe) runs on ONNX Runtime, which measured about 1.8× faster
than torch at batch 1 on our 2-core CPU, with the same numbers to 1e-6 (`python -m core bench`).
OpenVINO was measured too: as fast in fp32 on this CPU, and only faster in its default bf16 mode,
whose logits differ by ~2e-3.

`python -m core export-runtime` (core.evaluation.runtime_export) writes the ONNX files next to the weights with `runtime.json`, which
ties them to the weights' SHA-256 and records how far they are from torch on real X-rays. A missing,
stale or failing export is never used: the service falls back to torch and says why.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.i18n import N_
from core.models.classifier import head_logits, trunk_features
from core.models.weights import sha256_file
from core.vocabulary import Worded

RUNTIME_META = "runtime.json"
CLASSIFIER_ONNX = "classifier.onnx"
LUNGS_ONNX = "lungs.onnx"
RUNTIME_FORMAT = "onnx-1"  # bump when the files' inputs or outputs change
OPSET = 17
# An export further than this from torch on the check images is refused (fp32 both sides: ~1e-6 is usual).
MAX_LOGIT_DIFF = 1e-4
MAX_CAM_DIFF = 1e-3
MAX_LUNG_DIFF = 1e-4


class ClassifierGraph(nn.Module):
    """What the prediction path needs from the classifier in one pass: logits and the layer4 map."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = trunk_features(self.model, x)
        return head_logits(self.model, features), features


@dataclass(frozen=True)
class RuntimeStatus:
    """Which engine runs predictions, and why (shown on the Model Card and in `core bench`)."""

    engine: str  # "onnxruntime" or "torch"
    reason: Worded  # why torch, or what was checked

    @property
    def active(self) -> bool:
        return self.engine == "onnxruntime"

    def __str__(self) -> str:
        return str(self.reason)


class OnnxRuntime:
    """The exported classifier and lung U-Net, each one ONNX Runtime session shared by every caller."""

    def __init__(self, folder: Path, meta: dict, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The same thread count as torch: both share the machine's cores with every other session.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads that spin steal the cores from torch's work between two runs (CAM, U-Net input,
        # other sessions): measured 3× slower full analyses with spinning on.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self.meta = meta
        self.version = ort.__version__
        self.classifier = ort.InferenceSession(str(folder / CLASSIFIER_ONNX), options, providers=providers)
        lungs = folder / LUNGS_ONNX
        self.lungs = ort.InferenceSession(str(lungs), options, providers=providers) if meta.get("lungs") else None

    def classify(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3, 224, 224) float32 → logits (B, 2) and the layer4 map (B, 512, 7, 7)."""
        logits, features = self.classifier.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})
        return logits, features

    def lung_logits(self, batch: np.ndarray) -> np.ndarray:
        """(B, 1, 128, 128) float32 → (B, 1, 128, 128) logits of the lung U-Net."""
        assert self.lungs is not None
        return self.lungs.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})[0]


class RuntimeLogits:
    """The classifier's logits on the runtime, called like the torch module on a batch (no gradients).

    For the forward-only explanation checks (deletion and insertion curves): the same numbers as torch to
    about 1e-6, and faster on this CPU (`python -m core bench`, ratio_faithfulness_runtime_vs_torch).
    """

    def __init__(self, runtime: OnnxRuntime):
        self.runtime = runtime

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        logits, _ = self.runtime.classify(batch.detach().cpu().numpy())
        return torch.from_numpy(logits)


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, outputs: list[str]) -> None:
    """One ONNX file with a free batch size, written atomically (a half-written file is never loaded)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
            torch.onnx.export(
                module.eval(),
                (example,),
                tmp,
                input_names=["x"],
                output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in ["x", *outputs]},
                opset_version=OPSET,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the weights beside it are world-readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


TORCH_CHOSEN = N_("torch: CXR_RUNTIME=torch asks for it")
NOT_EXPORTED = N_("torch: no runtime export beside the weights (run `python -m core export-runtime`)")
STALE = N_("torch: the runtime export is for other weights (run `python -m core export-runtime` again)")
UNREADABLE = N_("torch: the runtime export could not be loaded ({detail})")
ACTIVE = N_("ONNX Runtime {version}: checked against torch on {images} X-rays, max |Δlogit| {logit_diff}")


def load_runtime(
    folder: Path, classifier_sha256: str, lungs_present: bool, wanted: str = "auto"
) -> tuple[OnnxRuntime | None, RuntimeStatus]:
    """The runtime for the weights in `folder` if its export is current, else None and why torch runs.

    Current means: runtime.json names these exact weight files (SHA-256) and the ONNX files it lists.
    """
    if wanted == "torch":
        return None, RuntimeStatus("torch", Worded(TORCH_CHOSEN))
    meta_path = folder / RUNTIME_META
    if not meta_path.is_file():
        return None, RuntimeStatus("torch", Worded(NOT_EXPORTED))
    try:
        meta = json.loads(meta_path.read_text())
        from core.models.lungs import LUNG_WEIGHTS

        expected = {
            "classifier_sha256": classifier_sha256,
            "lungs_sha256": sha256_file(folder / LUNG_WEIGHTS) if lungs_present else None,
        }
        if meta.get("format") != RUNTIME_FORMAT or any(meta.get(k) != v for k, v in expected.items()):
            return None, RuntimeStatus("torch", Worded(STALE))
        files = {CLASSIFIER_ONNX: meta.get("classifier_onnx_sha256")}
        if lungs_present:
            files[LUNGS_ONNX] = meta.get("lungs_onnx_sha256")
        if any(not (folder / name).is_file() or sha256_file(folder / name) != sha for name, sha in files.items()):
            return None, RuntimeStatus("torch", Worded(STALE))
        runtime = OnnxRuntime(folder, meta)
    except Exception as exc:  # a broken export must never stop the app: torch still works
        return None, RuntimeStatus("torch", Worded(UNREADABLE, detail=f"{type(exc).__name__}: {exc}"[:200]))
    checked = meta.get("checked_against_torch", {})
    return runtime, RuntimeStatus(
        "onnxruntime",
        Worded(
            ACTIVE,
            version=runtime.version,
            images=checked.get("images", 0),
            logit_diff=f"{checked.get('max_abs_logit_diff', float('nan')):.1e}",
        ),
    )
