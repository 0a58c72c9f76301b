from core.bench import run_bench


def test_bench_reports_p50s_and_ratios(use_trained_weights):
    report = run_bench(n_images=2, repeats=1, warmup=1)
    ratios = {k: v for k, v in report.items() if "ratio" in k}
    assert set(ratios) == {"ratio_full_vs_forward", "ratio_full_vs_pytorch_grad_cam"}
    assert all(v > 0 for v in ratios.values())
    assert abs(report["ratio_full_vs_forward"] - report["p50_ms_full_analysis"] / report["p50_ms_forward"]) < 0.01
