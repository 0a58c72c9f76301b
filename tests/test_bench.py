from core.evaluation.bench import run_bench


def test_bench_reports_p50s_and_ratios(use_trained_weights):
    # The gradient set (a minute per image at 224 px) is timed in tests/test_explain_methods.py on a tiny model.
    report = run_bench(
        n_images=2, repeats=1, warmup=1, gradient_images=0, sanity_images=1, sanity_methods="gradcam,sobel_control"
    )
    ratios = {k: v for k, v in report.items() if "ratio" in k}
    assert set(ratios) == {
        "ratio_runtime_vs_torch_forward",
        "ratio_full_vs_forward",
        "ratio_full_vs_pytorch_grad_cam",
        "ratio_limits_probe_vs_forward",
        "ratio_gradient_set_vs_forward",
        "ratio_gradient_set_vs_one_at_a_time",
        "ratio_gradient_set_vs_library_defaults",
    }
    assert report["p50_ms_gradient_set"] is None and report["ratio_gradient_set_vs_forward"] is None
    # No runtime export beside these weights: torch runs the predictions, and the bench says so.
    assert report["prediction_runtime"].startswith("torch: no runtime export")
    assert report["ratio_runtime_vs_torch_forward"] is None and report["p50_ms_runtime_forward"] is None
    # Nominal throughput of ResNet34 at 224 px (7.3 GFLOP), against a GEMM measured in the same run.
    assert abs(report["gflop_per_forward"] - 7.33) < 0.01
    assert report["gflops_per_s"] > 0 and report["gemm_gflops_per_s"] > 0
    assert abs(report["share_of_gemm_peak"] - report["gflops_per_s"] / report["gemm_gflops_per_s"]) < 0.01
    assert report["ratio_full_vs_forward"] > 0 and report["ratio_full_vs_pytorch_grad_cam"] > 0
    assert abs(report["ratio_full_vs_forward"] - report["p50_ms_full_analysis"] / report["p50_ms_forward"]) < 0.01
    # No lung segmenter in this weights folder: the probe is not timed, and says so with None.
    assert report["p50_ms_limits_probe"] is None and report["ratio_limits_probe_vs_forward"] is None
    # The randomisation sanity check: one image, one level, each named method as a ratio to the forward pass.
    sanity = report["sanity_check"]
    assert list(sanity["methods"]) == ["gradcam", "sobel_control"]
    assert sanity["images"] == 1 and sanity["level"] == "layer4" and sanity["ms_randomised_copy"] > 0
    for timing in sanity["methods"].values():
        assert timing["p50_ms"] > 0
        assert (
            abs(timing["ratio_vs_forward"] - timing["p50_ms"] / report["p50_ms_forward"])
            < 0.01 + 0.01 * timing["ratio_vs_forward"]
        )


def test_bench_times_the_limits_probe_and_the_runtime_when_installed(limits_weights_dir, tmp_path, monkeypatch):
    import numpy as np

    from core.evaluation.runtime_export import export_runtime
    from core.model_service import ModelService

    folder = tmp_path / "weights"
    folder.mkdir()
    for path in limits_weights_dir.iterdir():
        (folder / path.name).symlink_to(path)
    export_runtime(ModelService(folder), np.random.default_rng(0).integers(0, 256, (2, 224, 224), dtype=np.uint8))
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(folder))
    report = run_bench(n_images=2, repeats=1, warmup=1, gradient_images=0, sanity_images=0)
    assert report["prediction_runtime"].startswith("ONNX Runtime")
    assert report["p50_ms_runtime_forward"] > 0
    assert (
        abs(report["ratio_runtime_vs_torch_forward"] - report["p50_ms_runtime_forward"] / report["p50_ms_forward"])
        < 0.01
    )
    assert report["p50_ms_lung_segmentation"] > 0 and report["p50_ms_limits_probe"] > report["p50_ms_lung_segmentation"]
    assert (
        abs(report["ratio_limits_probe_vs_forward"] - report["p50_ms_limits_probe"] / report["p50_ms_forward"]) < 0.01
    )
    faithfulness = report["p50_ms_faithfulness_runtime"], report["p50_ms_faithfulness_torch"]
    assert min(faithfulness) > 0
    assert abs(report["ratio_faithfulness_runtime_vs_torch"] - faithfulness[0] / faithfulness[1]) < 0.01


def test_bench_times_the_sanity_check_of_every_fast_method_by_default():
    from core.evaluation.bench import sanity_method_names
    from core.explain.methods import METHODS

    fast = sanity_method_names()
    assert "sobel_control" in fast and "gradcam" in fast and "scorecam" not in fast
    assert set(fast) >= {n for n, m in METHODS.items() if not m.slow}
    assert set(sanity_method_names("all")) >= set(METHODS)
