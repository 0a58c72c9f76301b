"""Trust tests of the explanation maps (core.explain.trust): each metric on a case whose answer is known.

Tiny models and 64-px inputs everywhere except the committed-model checks (real 224-px training
films; the issue's "done when": the Sobel control fails the randomisation test, Grad-CAM passes)
and the command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined, neighbors_weights
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr
from torch import nn

from core.explain.methods import METHODS
from core.explain.trust import (
    CONTROLS,
    LEVELS,
    TrustSettings,
    aggregate,
    bootstrap_ci,
    deletion_insertion,
    faithfulness,
    image_trust,
    max_sensitivity,
    randomisation_check,
    randomised_models,
    road_scores,
    scrambled_maps,
    trust_figures,
)
from core.explain.trust.controls import Control, correlation_length, random_smooth_map, smoothness_sigma
from core.explain.trust.localisation import lung_share
from core.explain.trust.randomisation import VERDICT_LEVEL, verdict
from core.explain.trust.ranking import ranking, unit_ranks
from core.explain.trust.road import FastNoisyLinearImputer, LogOddsTarget, linear_system
from core.explain.trust.similarity import rank_correlation_matrix, spearman_abs, ssim_abs
from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD
from tests.conftest import REPO
from tests.test_explain_methods import assert_untouched, snapshot, tiny_input, tiny_resnet

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum.*")
SIZE = 64


# ---------- a toy model whose answer is known ---------------------------------------------------


class RegionSum(nn.Module):
    """Logit of class 1 = 10 × the mean of channel 0 over a 16×16 region (rows and cols 8..23); class 0 = 0."""

    region = (slice(8, 24), slice(8, 24))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        evidence = 10.0 * x[:, 0, self.region[0], self.region[1]].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(evidence), evidence], 1)


def region_image() -> torch.Tensor:
    x = torch.zeros(1, 3, SIZE, SIZE)
    x[:, :, RegionSum.region[0], RegionSum.region[1]] = 1.0
    return x.contiguous(memory_format=torch.channels_last)


def region_map() -> np.ndarray:
    heat = np.zeros((SIZE, SIZE), np.float32)
    heat[RegionSum.region] = 1.0
    return heat


# ---------- (i) the committed model: the control fails, Grad-CAM passes ------------------------


@pytest.fixture(scope="module")
def committed():
    from core.model_service import ModelService
    from core.training import dataset

    service = ModelService(REPO / "weights")
    if not service.info.trained:
        pytest.skip("no trained classifier committed in weights/")
    films = [
        s
        for label in (0, 1)
        for s in [s for s in dataset.list_labelled(dataset.KERMANY / "train") if s.label == label][:2]
    ]
    return service, films


def test_on_the_committed_model_the_sobel_control_fails_and_gradcam_passes(committed):
    from core.imaging.decode import load_image
    from core.imaging.preprocess import to_model_input
    from core.vocabulary import CLASS_NAMES

    service, films = committed
    before = snapshot(service.model)
    cascade = randomised_models(service.model, (VERDICT_LEVEL,))
    rho: dict[str, list[float]] = {"gradcam": [], "sobel_control": []}
    for film in films:  # the first two training films of each class: no test image, no choice
        x = to_model_input(load_image(film.path.read_bytes()).pixels)
        target = CLASS_NAMES.index(service.label_for(float(service.forward(x).probability[0])))
        for name in rho:
            result = randomisation_check(service.model, x, target, name, (VERDICT_LEVEL,), models=cascade)
            rho[name].append(result.spearman[VERDICT_LEVEL])
    assert min(rho["sobel_control"]) == pytest.approx(1.0)  # the model-free map cannot change
    assert verdict(float(np.mean(rho["sobel_control"]))) == "fail"
    assert verdict(float(np.mean(rho["gradcam"]))) == "pass", rho["gradcam"]
    assert_untouched(service.model, before)


# ---------- (ii) deletion and insertion on logits ----------------------------------------------


def test_deletion_and_insertion_of_a_known_case():
    model, x = RegionSum().eval(), region_image()
    out = deletion_insertion(model, x, 1, region_map(), steps=16, with_random=True)
    # The first step (1/16 of the pixels) deletes exactly the region: log-odds 10 → 0, and it stays 0.
    assert out["deletion"][0] == pytest.approx(10.0) and max(abs(v) for v in out["deletion"][1:]) < 1e-5
    assert out["deletion_auc"] == pytest.approx(-10.0 / 32 - 10.0 * 15 / 16, abs=1e-4)
    # Insertion starts from the blurred image and has the whole evidence back after one step.
    blurred = out["insertion"][0]
    assert 0 < blurred < 10 and all(v == pytest.approx(10.0, abs=1e-5) for v in out["insertion"][1:])
    assert out["insertion_auc"] == pytest.approx((blurred - 10.0) / 32, abs=1e-4)
    # The region's map beats a random map of the same smoothness on both curves.
    assert out["deletion_vs_random"] < -2.0 and out["insertion_vs_random"] > 0.1


def test_faithfulness_compares_each_map_with_a_random_map_of_its_smoothness():
    model, x = RegionSum().eval(), region_image()
    wrong = 1.0 - region_map()  # the region last: worse than random
    out = faithfulness(model, x, 1, {"right": region_map(), "wrong": wrong}, steps=8, road_percentiles=(90,))
    assert out["right"]["deletion_vs_random"] < 0 < out["right"]["insertion_vs_random"]
    assert out["wrong"]["deletion_vs_random"] > 0 > out["wrong"]["insertion_vs_random"]
    assert out["right"]["road_vs_random"] > 0 > out["wrong"]["road_vs_random"]
    # Same smoothness → the same random twins.
    assert out["right"]["deletion_auc_random"] == out["wrong"]["deletion_auc_random"]


def test_random_maps_have_the_smoothness_asked_for():
    for sigma in (2.0, 6.0):
        noise = random_smooth_map((160, 160), sigma, seed=3)
        assert smoothness_sigma(noise) == pytest.approx(sigma, rel=0.2)
    assert correlation_length(np.ones((32, 32))) == 0.0
    blob = gaussian_filter(np.random.default_rng(0).standard_normal((128, 128)), 8.0)
    assert smoothness_sigma(blob) > 4 * smoothness_sigma(np.random.default_rng(1).standard_normal((128, 128)))


def test_ties_are_broken_without_favouring_the_top_rows():
    heat = np.zeros((SIZE, SIZE))
    heat[30, 30] = 2.0
    order = ranking(heat, seed=0)
    assert order[0] == 30 * SIZE + 30
    first_half_rows = order[1 : SIZE * SIZE // 2] // SIZE
    assert 20 < first_half_rows.mean() < 44  # a raster tie-break would give ≈ 16
    ranks = unit_ranks(heat)
    assert ranks.max() == 1.0 and ranks[30, 30] == 1.0 and len(np.unique(ranks)) == SIZE * SIZE


# ---------- (iii) ROAD ---------------------------------------------------------------------------


def test_fast_imputer_builds_the_librarys_system():
    rng = np.random.default_rng(0)
    img = rng.standard_normal((3, 12, 10)).astype(np.float32)
    mask = (rng.random((12, 10)) > 0.4).astype(np.float32)
    a_lib, b_lib = NoisyLinearImputer.setup_sparse_system(mask, img, neighbors_weights)
    a, b = linear_system(mask, img)
    assert np.allclose(a.toarray(), a_lib.toarray()) and np.allclose(b, b_lib)
    torch.manual_seed(1)
    theirs = NoisyLinearImputer(noise=0.0)(torch.from_numpy(img), torch.from_numpy(mask))
    ours = FastNoisyLinearImputer(noise=0.0)(torch.from_numpy(img), torch.from_numpy(mask))
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.equal(ours[:, mask > 0], torch.from_numpy(img)[:, mask > 0])  # kept pixels stay


def test_road_equals_the_librarys_road_combined_and_is_sane():
    model, x = RegionSum().eval(), region_image()
    maps = [region_map(), random_smooth_map((SIZE, SIZE), 3.0, seed=0)]
    percentiles = (70, 90)
    ours = road_scores(model, x, 1, maps, percentiles, seed=4, fast=False)
    torch.manual_seed(4)
    cams = np.stack([unit_ranks(m, 4) for m in maps])
    inputs = x.expand(2, -1, -1, -1)
    theirs = ROADCombined(list(percentiles))(inputs, cams, [LogOddsTarget(1)] * 2, model)
    assert [o["road"] for o in ours] == pytest.approx(list(theirs), abs=1e-5)
    fast = road_scores(model, x, 1, maps, percentiles, seed=4)
    assert [o["road"] for o in fast] == pytest.approx([o["road"] for o in ours], abs=1e-3)
    region = fast[0]
    assert set(region) == {"road", "morf", "lerf"} and set(region["morf"]) == set(percentiles)
    # Removing the top 10 % or 30 % takes the whole region (6 % of the pixels): evidence imputed from zeros.
    assert all(abs(v) < 0.5 for v in region["morf"].values())
    assert all(v == pytest.approx(10.0, abs=0.1) for v in region["lerf"].values())
    assert region["road"] == pytest.approx(5.0, abs=0.3) and fast[1]["road"] < region["road"] - 1


# ---------- (iv) stability ------------------------------------------------------------------------


def test_a_constant_output_model_has_zero_sensitivity():
    model = tiny_resnet(seed=2)
    with torch.no_grad():
        model.fc.weight.zero_()  # logits = the bias whatever the input: every gradient map is 0
    out = max_sensitivity(model, tiny_input(), 1, "saliency", samples=3)
    assert out["max_sensitivity"] == 0.0 and out["flipped_draws"] == 0 and out["discarded_samples"] == 0


def test_sensitivity_of_the_input_itself_is_the_noise_over_the_image(monkeypatch):
    from core.explain.trust.controls import input_grey

    monkeypatch.setitem(CONTROLS, "identity", Control("identity", "the grey picture", input_grey))
    x = torch.zeros(1, 3, SIZE, SIZE) + (0.5 - PIXEL_MEAN) / PIXEL_STD  # mid-grey: no clamping
    radius = 0.02
    out = max_sensitivity(tiny_resnet(), x, 1, "identity", radius=radius, samples=4)
    # ‖δ‖ / ‖x‖ with δ uniform in ±r on every pixel and x = 0.5 everywhere: (r / √3) / 0.5.
    assert out["max_sensitivity"] == pytest.approx(2 * radius / np.sqrt(3), rel=0.03)


def test_perturbations_that_flip_the_label_are_redrawn_or_discarded():
    model, x = RegionSum().eval(), region_image()  # log-odds 10, moved up or down alike by the noise
    out = max_sensitivity(model, x, 1, "sobel_control", samples=6, decision_margin=10.0, max_tries=2)
    assert out["flipped_draws"] > 0  # on the decision boundary about half the draws flip and are redrawn
    assert 0 <= out["discarded_samples"] < 6 and out["max_sensitivity"] > 0
    far = max_sensitivity(model, x, 1, "sobel_control", samples=6, decision_margin=-100.0)
    assert far["flipped_draws"] == 0 and far["discarded_samples"] == 0


# ---------- (v) bootstrap -------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    small, large = bootstrap_ci(rng.normal(1.0, 1.0, 10)), bootstrap_ci(rng.normal(1.0, 1.0, 400))
    for stat in (small, large):
        assert stat["ci95"][0] < stat["mean"] < stat["ci95"][1]
    width = lambda s: s["ci95"][1] - s["ci95"][0]  # noqa: E731
    assert width(large) < width(small) / 3
    assert bootstrap_ci([1.0, None, float("nan"), 3.0])["n"] == 2
    assert bootstrap_ci([]) == {"mean": None, "ci95": None, "n": 0}
    assert bootstrap_ci([2.0, 4.0]) == bootstrap_ci([2.0, 4.0])  # fixed seed


# ---------- (vi) randomisation leaves the caller's model alone ------------------------------------


def test_randomisation_never_touches_the_callers_model_and_cascades_from_the_top():
    model, x = tiny_resnet(seed=4), tiny_input()
    before = snapshot(model)
    for name in ("gradcam", "guided_backprop", "sobel_control"):
        result = randomisation_check(model, x, 1, name, LEVELS)
        assert set(result.spearman) == set(LEVELS) and result.verdict in ("pass", "fail")
    assert_untouched(model, before)
    models = randomised_models(model, ("fc", "layer2", "conv1"))
    trained = model.state_dict()
    fc, layer2 = models["fc"].state_dict(), models["layer2"].state_dict()
    assert not torch.equal(fc["fc.weight"], trained["fc.weight"]) and torch.equal(
        fc["layer4.0.conv1.weight"], trained["layer4.0.conv1.weight"]
    )
    assert not torch.equal(layer2["layer3.0.conv1.weight"], trained["layer3.0.conv1.weight"])
    assert torch.equal(layer2["layer1.0.conv1.weight"], trained["layer1.0.conv1.weight"])
    assert torch.equal(layer2["fc.weight"], fc["fc.weight"])  # the same seed per block, whatever the levels
    # A re-initialised BatchNorm is the identity in eval mode: running mean 0, variance 1, γ 1, β 0.
    assert torch.equal(layer2["layer2.0.bn1.running_var"], torch.ones_like(layer2["layer2.0.bn1.running_var"]))
    assert not layer2["layer2.0.bn1.running_mean"].any() and not models["conv1"].state_dict()["bn1.bias"].any()
    assert all(not m.training for m in models["conv1"].modules())
    assert not any(p.requires_grad for p in models["conv1"].parameters())


def test_scrambled_maps_show_the_trained_and_randomised_maps():
    model, x = tiny_resnet(seed=5), tiny_input()
    result = scrambled_maps(model, x, 1, "sobel_control", ("fc", "layer4"))
    assert result.verdict == "fail" and result.spearman == {"fc": 1.0, "layer4": 1.0}
    assert all(np.array_equal(m, result.trained) for m in result.maps.values())
    cam = scrambled_maps(model, x, 1, "gradcam", ("fc", "layer4"))
    assert cam.trained.shape == (SIZE, SIZE) and not np.array_equal(cam.maps["fc"], cam.trained)


def test_the_control_is_not_an_explanation_method():
    assert "sobel_control" in CONTROLS and "sobel_control" not in METHODS
    flat = torch.zeros(1, 3, SIZE, SIZE)
    assert not CONTROLS["sobel_control"].compute(flat).any()


# ---------- similarity and localisation -----------------------------------------------------------


def test_rank_correlations_and_ssim():
    rng = np.random.default_rng(0)
    a, b = rng.random((20, 20)), rng.random((20, 20))
    assert spearman_abs(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic)
    assert spearman_abs(a, -2 * a) == pytest.approx(1.0)  # absolute maps; scale-free
    assert spearman_abs(a, np.zeros_like(a)) == 0.0
    matrix = rank_correlation_matrix([a, b, np.zeros_like(a)])
    assert matrix[0, 1] == pytest.approx(spearman_abs(a, b)) and matrix[2, 0] == 0.0 and matrix[2, 2] == 1.0
    assert ssim_abs(a, 3 * a) == pytest.approx(1.0) and ssim_abs(a, b) < 0.5


def test_lung_share_is_relevance_mass_accuracy():
    lungs = np.zeros((224, 224), bool)
    lungs[50:150, 30:100] = True
    assert lung_share(lungs.astype(np.float32), lungs) == 1.0
    assert lung_share(np.ones((224, 224), np.float32), lungs) == pytest.approx(lungs.mean(), abs=1e-3)
    signed = np.where(lungs, 1.0, -5.0).astype(np.float32)  # negative mass (against the target) is not counted
    assert lung_share(signed, lungs) == 1.0 and lung_share(signed, None) is None


# ---------- one image, every figure; summary ------------------------------------------------------


def test_image_trust_and_its_summary_on_a_tiny_model():
    model, x = tiny_resnet(seed=6), tiny_input()
    settings = TrustSettings(levels=("fc", "layer4"), steps=4, road_percentiles=(90,), stability_samples=1)
    names = ["saliency", "sobel_control"]
    records = [image_trust(model, x, t, names, None, settings, seed=t) for t in (0, 1)]
    entry = records[0]["methods"]["saliency"]
    assert entry["randomization_verdict_level"] == "layer4" and set(entry["randomization_spearman"]) == {"fc", "layer4"}
    assert records[0]["agreement"]["names"] == names and len(records[0]["agreement"]["matrix"]) == 2
    summary = aggregate(records, names, n_resamples=50)
    control = summary["methods"]["sobel_control"]
    assert control["control"] and control["randomization_verdict"] == "fail"
    assert control["randomization_spearman"]["layer4"]["mean"] == 1.0 and control["n_images"] == 2
    figures = trust_figures(model, x, 1, "gradcam", steps=4, road_percentiles=(90,), stability_samples=1)
    assert figures["randomization_verdict"] in ("pass", "fail") and figures["agreement_gradcam"] == 1.0
    assert {"deletion_vs_random", "insertion_vs_random", "road_vs_random", "stability_max_sensitivity"} <= set(figures)


# ---------- (vii) command line --------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_cli_xai_eval_writes_the_report(tmp_path):
    from core.training import dataset

    folder = tmp_path / "films"
    for label in ("NORMAL", "PNEUMONIA"):
        (folder / label).mkdir(parents=True)
        shutil.copy(sorted((dataset.KERMANY / "train" / label).glob("*.jpeg"))[0], folder / label)
    (folder / "NORMAL" / "broken.jpeg").write_bytes(b"not an image")
    out = tmp_path / "report.json"
    done = run_cli(
        "xai-eval",
        folder,
        "--methods",
        "gradcam,sobel_control",
        "--levels",
        "layer4",
        "--steps",
        "4",
        "--road-percentiles",
        "90",
        "--stability-samples",
        "1",
        "--json",
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report == json.loads(done.stdout)
    assert report["n_images"] == 2 and report["skipped"]["unreadable"] == 1
    assert {"model_version", "folder", "wall_time_s", "parameters", "date"} <= set(report)
    assert list(report["methods"]) == ["gradcam", "sobel_control"]
    for entry in report["methods"].values():
        for word in ("randomization", "deletion", "insertion", "road", "stability", "lung"):
            assert any(word in key for key in entry), word
        assert entry["randomization_spearman"]["layer4"]["n"] == 2
    assert report["methods"]["sobel_control"]["randomization_verdict"] == "fail"
    assert "xai-eval" in done.stderr  # the progress line


def test_cli_xai_eval_resumes_from_its_records_with_the_same_settings_only(tmp_path):
    from core.training import dataset

    folder = tmp_path / "films"
    for label in ("NORMAL", "PNEUMONIA"):
        (folder / label).mkdir(parents=True)
        shutil.copy(sorted((dataset.KERMANY / "train" / label).glob("*.jpeg"))[0], folder / label)
    records = tmp_path / "records.jsonl"
    quick = ("--methods", "gradcam,sobel_control", "--levels", "layer4", "--steps", "4", "--road-percentiles", "90")
    common = (folder, *quick, "--stability-samples", "1", "--records", records, "--json")
    whole = run_cli("xai-eval", *common)
    assert whole.returncode == 0, whole.stderr
    lines = records.read_text().splitlines()
    assert json.loads(lines[0])["xai_eval_records"] == 1 and len(lines) == 1 + 2 + 1  # header, images, run
    again = run_cli("xai-eval", *common, "--resume")
    assert again.returncode == 0, again.stderr
    before, after = json.loads(whole.stdout), json.loads(again.stdout)
    assert after["methods"] == before["methods"] and after["n_images"] == 2  # read back, not measured again
    assert [run["new_images"] for run in after["runs"]] == [2, 0]
    assert after["wall_time_s"] == before["wall_time_s"]  # reading back measured nothing
    other = run_cli("xai-eval", folder, *quick, "--stability-samples", "2", "--records", records, "--resume")
    assert other.returncode == 2 and "other settings" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    assert len(records.read_text().splitlines()) == 1 + 2 + 2  # the refused run wrote nothing


def test_cli_xai_eval_bad_folder_exits_2_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in ((tmp_path / "missing",), (tmp_path / "empty",), (tmp_path / "empty", "--methods", "bogus")):
        done = run_cli("xai-eval", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1
