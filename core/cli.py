"""`python -m core …`: the command-line face of the domain code.

Bad input ends with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from core.formatting import percent

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _read_input(path: Path) -> bytes:
    from core.imaging.decode import MAX_FILE_BYTES, ImageRejected

    if not path.exists():
        raise ImageRejected(f"{path}: no such file")
    if path.is_dir():
        raise ImageRejected(f"{path} is a folder; give one image file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImageRejected(f"{path}: {path.stat().st_size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    return path.read_bytes()


def _analyze_one(service, path: Path, force: bool, with_limits: bool = True):
    """(analysis, None) or (None, (stage, reason)) for one file; stage is not_chest_xray or unreadable."""
    from core.analysis import InputFlagged, analyze_bytes
    from core.imaging.decode import ImageRejected
    from core.reliability.input_check import NOT_CHEST_XRAY

    try:
        result = analyze_bytes(service, _read_input(path), force=force, with_limits=with_limits)
    except InputFlagged as exc:
        return None, (NOT_CHEST_XRAY, str(exc))
    except ImageRejected as exc:
        return None, ("unreadable", str(exc))
    return result, None


def _cmd_analyze(args) -> int:
    from core.model_service import ModelService

    service = ModelService()  # one model load for the whole batch
    placeholder_warning = (
        "warning: no trained model is installed (weights/classifier.safetensors is missing); "
        "the placeholder's output is not a prediction."
    )
    if len(args.images) == 1:
        result, refused = _analyze_one(service, args.images[0], args.force)
        if refused is None and not service.info.trained:
            print(placeholder_warning, file=sys.stderr)
        if refused is not None:
            stage, reason = refused
            hint = " Use --force to analyse it anyway (recorded in the result)." if stage != "unreadable" else ""
            return _fail(reason + hint)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            _print_analysis(result)
        return 0
    unreadable = 0
    if not service.info.trained:
        print(placeholder_warning, file=sys.stderr)
    for path in args.images:
        result, refused = _analyze_one(service, path, args.force)
        unreadable += refused is not None and refused[0] == "unreadable"
        if args.json:
            line = (
                {"file": str(path), **result.to_dict()}
                if refused is None
                else {"file": str(path), "refused": refused[1], "stage": refused[0]}
            )
            print(json.dumps(line), flush=True)
        else:
            print(f"== {path}")
            if refused is None:
                _print_analysis(result)
            else:
                print(f"refused ({refused[0]}): {refused[1]}")
            print(flush=True)
    return EXIT_BAD_INPUT if unreadable else 0


def _print_analysis(result) -> None:
    from core.analysis import DISCLAIMER

    if result.model_trained:
        print(f"label: {result.label}")
        print(f"probability of pneumonia: {percent(result.probability)} (threshold {result.threshold:.1%})")
        u = result.uncertainty
        print(
            f"certainty: {u.level}"
            + (
                f" — {'; '.join(u.reasons)}"
                if u.reasons
                else f" (outside the uncertain band {u.band[0]:.2f}–{u.band[1]:.2f})"
            )
        )
        g = result.guard
        if g.overridden:
            print(f"input check: NOT a frontal chest X-ray ({g.reason}); analysed anyway because of --force")
        elif g.unlike_training:
            print(f"input check: WARNING, {g.reason}")
        elif g.distance is not None:
            print(
                f"input check: passed (frontal chest X-ray; feature distance {g.distance:.1f}, limit {g.threshold:.1f})"
            )
        else:
            print(f"input check: not checked ({g.reason})")
    else:
        print("label: none (no trained model installed)")
    print(f"model version: {result.model_version}")
    s = result.cam_summary
    if s.get("peak"):
        top = sorted(s["zone_share"].items(), key=lambda kv: -kv[1])[:2]
        print(
            f"Grad-CAM ({result.cam_target}): peak in {s['peak']['zone']}; "
            f"most mass in {', '.join(f'{z} {v:.0%}' for z, v in top)}; outer frame {s['border_share']:.0%}"
        )
    if result.limits:
        _print_limits(result.limits.metrics)
    elif result.model_trained:
        print("model limits: not measured (no lung segmenter installed: weights/lungs.safetensors)")
    print(DISCLAIMER)


def _print_limits(m: dict) -> None:
    from core.explain.limits import FLAG_TITLES

    print(
        f"heatmap vs lungs: {m['lung_share']:.0%} on the lung fields, {m['border_share']:.0%} on the border, "
        f"{m['marker_share']:.0%} on markers ({len(m['markers'])} found), {m['mediastinum_share']:.0%} between the "
        f"lungs, {m['below_diaphragm_share']:.0%} below them; peak: {m['peak_region']}"
    )
    c = m["counterfactual"]
    erased = (
        "no marker found"
        if c["marker_delta"] is None
        else f"P {percent(c['p_marker_erased'])} ({c['marker_delta']:+.1%})"
    )
    print(
        f"counterfactuals: markers erased → {erased}; outside the lungs blanked → P {percent(c['p_outside_blanked'])} "
        f"({c['outside_delta']:+.1%})"
    )
    f = m["faithfulness"]
    print(
        f"faithfulness: insertion AUC {f['insertion_auc']:.2f} − deletion AUC {f['deletion_auc']:.2f} = {f['score']:+.2f}"
    )
    print(
        "shortcut flags: "
        + (", ".join(FLAG_TITLES[x] for x in m["flags"]) if m["flags"] else "none")
        + ("" if m["thresholds_fitted"] else " (default thresholds: run `python -m core limits-fit`)")
    )


def _cmd_report(args) -> int:
    from core.analysis import analyze_bytes
    from core.imaging.decode import ImageRejected
    from core.model_service import ModelService
    from core.reports import InMemoryReportStore, NoPrediction, build_facts, get_report, image_id, to_markdown
    from core.reports.gemini import GeminiSettings

    try:
        result = analyze_bytes(ModelService(), _read_input(args.image))
        facts = build_facts(result)
    except (ImageRejected, NoPrediction) as exc:
        return _fail(str(exc))
    settings = GeminiSettings.from_env()
    record = get_report(
        facts, image_id(result.image.pixels), InMemoryReportStore(), language=args.lang, settings=settings
    ).record
    if args.json:
        print(
            json.dumps(
                {"facts": facts.to_dict(), "report": record.to_dict(), "markdown": to_markdown(record)},
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print("facts:")
    for key, value in facts.to_dict().items():
        print(f"  {key}: {value}")
    why = f" ({record.source_reason})" if record.source_reason else ""
    print(f"source: {record.source}{why}")
    print("guard: passed" if record.guard_passed else "guard: FAILED: " + "; ".join(record.guard_reasons))
    print()
    print(to_markdown(record, header=False))
    return 0


def _cmd_explain(args) -> int:
    from core.explain.methods import METHODS, method_names

    if args.list:
        for m in METHODS.values():
            print(f"{m.name:26} {m.family:12} {'slow' if m.slow else 'fast':4}  {json.dumps(m.defaults)}")
            print(f"{'':26} {m.computes}")
        return 0
    if args.image is None:
        return _fail("give an IMAGE to explain, or --list to see the methods")
    try:
        names = method_names(args.methods) if args.methods else [m.name for m in METHODS.values() if not m.slow]
    except ValueError as exc:
        return _fail(str(exc))
    import contextlib
    import io

    from core.analysis import explain_analysis
    from core.model_service import ModelService

    service = ModelService()
    result, refused = _analyze_one(service, args.image, args.force)
    if refused is not None:
        stage, reason = refused
        hint = " Use --force to explain it anyway." if stage != "unreadable" else ""
        return _fail(reason + hint)
    if not service.info.trained:
        print("warning: no trained model is installed; the placeholder's maps explain nothing", file=sys.stderr)
    target_name = args.target or result.label
    terminal = sys.stderr

    def progress(fraction: float) -> None:
        if terminal.isatty():
            print(f"\r{fraction:6.1%}", end="", file=terminal, flush=True)

    # Score-CAM draws a tqdm bar per batch on stderr; this command shows its own progress instead.
    with contextlib.redirect_stderr(io.StringIO()):
        explained = explain_analysis(service, result, names, target_name, progress=progress)
    if terminal.isatty():
        print("\r", end="", file=terminal)
    lung_mask = result.limits.lung_mask if result.limits else None
    boxes = result.limits.metrics["markers"] if result.limits else []
    report = {}
    for name, item in explained.items():
        entry = item.to_dict()
        if args.save_maps:
            import numpy as np

            args.save_maps.mkdir(parents=True, exist_ok=True)
            path = args.save_maps / f"{name}.npy"
            np.save(path, item.result.map.astype(np.float32))
            entry["map_file"] = str(path)
        report[name] = entry
    if args.json:
        from core.analysis import DISCLAIMER
        from core.formatting import json_probability

        print(
            json.dumps(
                {
                    "file": str(args.image),
                    "label": result.label if result.model_trained else None,
                    "probability_pneumonia": json_probability(result.probability) if result.model_trained else None,
                    "target": target_name,
                    "model_version": result.model_version,
                    "lung_mask": lung_mask is not None,
                    "markers": boxes,
                    "methods": report,
                    "disclaimer": DISCLAIMER,
                },
                indent=2,
            )
        )
        return 0
    _print_explanations(result, target_name, lung_mask is not None, boxes, report)
    return 0


def _print_explanations(result, target_name: str, has_lungs: bool, boxes: list, report: dict) -> None:
    from core.analysis import DISCLAIMER

    if result.model_trained:
        print(f"label: {result.label} (P(pneumonia) {percent(result.probability)}); explaining: {target_name}")
    print(f"model version: {result.model_version}; markers found: {len(boxes)}")
    if not has_lungs:
        print("lung shares: not measured (no trained model or lung segmenter installed)")
    for name, e in report.items():
        print(f"{name} ({e['family']}) {e['ms']:.0f} ms  {json.dumps(e['params'])}")
        shares = e["shares"]
        peak = f"row {e['peak']['row']}, col {e['peak']['col']}" if e["peak"] else "none"
        lungs = "-" if shares["lung_share"] is None else f"{shares['lung_share']:.0%}"
        mass = "positive mass" if e["signed"] else "mass"
        print(
            f"  peak ({peak}); {mass}: lungs {lungs}, border {shares['border_share']:.0%}, "
            f"markers {shares['marker_share']:.0%}" + (f"; saved {e['map_file']}" if "map_file" in e else "")
        )
    print(DISCLAIMER)


def _cmd_xai_eval(args) -> int:
    from core.evaluation.xai_eval import BadFolder, evaluate_folder, list_images, text_report
    from core.explain.methods import METHODS
    from core.explain.trust import CONTROLS, TrustSettings, trust_names

    try:
        list_images(args.folder)  # a bad folder fails before the model loads
        names = (
            trust_names(args.methods)
            if args.methods
            else [*(m.name for m in METHODS.values() if not m.slow), *CONTROLS]
        )
        settings = TrustSettings(
            levels=args.levels,
            slow_levels=args.slow_levels,
            steps=args.steps,
            random_maps=args.random_maps,
            road_percentiles=_int_list(args.road_percentiles),
            stability_samples=args.stability_samples,
            slow_stability_samples=args.slow_stability_samples,
            radius=args.radius,
            seed=args.seed,
            params=json.loads(args.params) if args.params else {},
        )
    except (BadFolder, ValueError) as exc:
        return _fail(str(exc))
    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be at least 1")
    if args.slow_limit is not None and args.slow_limit < 0:
        return _fail("--slow-limit must be 0 or more")
    if args.resume and args.records is None:
        return _fail("--resume needs --records FILE")
    from core.model_service import ModelService

    service = ModelService()
    if not service.info.trained:
        print("warning: no trained model is installed; the placeholder's maps explain nothing", file=sys.stderr)
    try:
        report = evaluate_folder(
            service,
            args.folder,
            lambda path: _analyze_one(service, path, force=False, with_limits=False),
            names,
            settings,
            args.limit,
            slow_limit=args.slow_limit,
            max_minutes=args.max_minutes,
            records_file=args.records,
            resume=args.resume,
        )
    except BadFolder as exc:
        return _fail(str(exc))
    if report["n_images"] == 0:
        return _fail(f"no image in {args.folder} could be evaluated ({report['skipped']})")
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text if args.json else text_report(report))
    return 0


def _int_list(spec: str) -> tuple[int, ...]:
    """'50,70,90' → (50, 70, 90); 'none' or '' → ()."""
    if spec.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(v) for v in spec.split(",") if v.strip())
    except ValueError as exc:
        raise ValueError(f"expected comma-separated integers, got {spec!r}") from exc


def _cmd_bench(args) -> int:
    from core.evaluation.bench import run_bench

    report = run_bench(
        n_images=args.images,
        repeats=args.repeats,
        gradient_images=args.gradient_images,
        sanity_images=args.sanity_images,
        sanity_methods=args.sanity_methods,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


def _cmd_evaluate(args) -> int:
    from core.evaluation.metrics import classification_report
    from core.model_service import ModelService
    from core.training import dataset

    samples = dataset.list_labelled(args.folder)
    if not samples:
        return _fail(f"{args.folder} has no images under NORMAL/ or PNEUMONIA/")
    service = ModelService()
    if not service.info.trained:
        return _fail("no trained model is installed (weights/classifier.safetensors is missing)")
    grays = list(dataset.load_pixels(samples, cache=False))
    report = classification_report([s.label for s in samples], service.predict_grays(grays), service.info.threshold)
    report["model_version"] = service.version
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


def _cmd_export(args) -> int:
    from core.training.export import export_run, previous_model_card, select_checkpoint

    selection = None
    if args.epoch:
        checkpoint = args.run_dir / f"epoch-{args.epoch:02d}.pt"
    else:
        checkpoint, epoch, selection = select_checkpoint(args.run_dir)
        for row in selection:
            print(
                f"epoch {row['epoch']}: calibrated NLL validation {row['val_nll_calibrated']}, shifted slice "
                f"{row['shift_nll_calibrated']}",
                file=sys.stderr,
            )
        print(f"selected epoch {epoch} on validation: {checkpoint}", file=sys.stderr)
    previous = previous_model_card(args.out) if args.keep_previous else None
    meta = export_run(checkpoint, args.out, report_test=not args.no_test, previous=previous, selection=selection)
    print(json.dumps({k: meta[k] for k in ("metrics", "uncertainty", "input_guard")}, indent=2))
    return 0


def _cmd_fit_guard(args) -> int:
    from core.training.export import fit_guard_for_weights

    try:
        meta = fit_guard_for_weights(args.weights, max_train=args.max_train)
    except ValueError as exc:
        return _fail(str(exc))
    print(json.dumps({k: meta[k] for k in ("input_guard", "uncertainty")}, indent=2))
    return 0


def _cmd_guard_eval(args) -> int:
    from core.evaluation.input_check_eval import collect, evaluate_guard
    from core.model_service import ModelService

    service = ModelService(args.weights)
    if service.guard is None:
        return _fail(f"cannot evaluate the input guard: {service.guard_status}")
    report = evaluate_guard(service, collect(service.info.meta, limit=args.limit))
    if args.write:
        from core.evaluation.input_check_eval import write_summary

        write_summary(service.weights_dir, report)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"input check of model {report['model_version']}: stage 1 {report['stage1']}; stage 2 distance limit "
        f"{report['threshold']} ({report['percentile']:g}th percentile of validation), colour limit "
        f"{report['colour_limit']:g}"
    )
    for name, c in report["categories"].items():
        why = ", ".join(f"{k} {v}" for k, v in c["refused_because"].items()) or "-"
        print(
            f"{c['refused_rate']:7.1%} refused {c['refused_stage1']:>3}/{c['n']:<3} | analysed {c['analysed']:>3} "
            f"(warned {c['warned_stage2']:>3})  {name}  [refused because: {why}; median distance "
            f"{c['median_distance']}; expected: {c['expected']}]"
        )
    summary = report["summary"]
    print(
        f"non-chest refused at stage 1: {summary['non_chest_refused_at_stage1']}; chest films from elsewhere "
        f"analysed: {summary['chest_from_elsewhere_analysed']}; laterals: {summary['lateral_chest']}"
    )
    return 0


def _cmd_train(args) -> int:
    import torch

    from core.training.train_classifier import TrainConfig, train

    torch.set_num_threads(args.threads)
    init_sha = ""
    if args.init_weights:
        from core.models.weights import sha256_file

        init_sha = sha256_file(args.init_weights)
    config = TrainConfig(
        schedule=args.schedule,
        batch_size=args.batch_size,
        max_lr=args.max_lr,
        seed=args.seed,
        init_weights=str(args.init_weights or ""),
        init_sha256=init_sha,
        pct_start=args.pct_start,
        label_smoothing=args.label_smoothing,
        ema_decay=args.ema_decay,
        augmentation=args.augmentation,
    )
    train(config, args.run_dir, resume=args.resume)
    return 0


def _cmd_lungs(args) -> int:
    from core.models.lungs import LungSegmenter
    from core.training import dataset
    from core.training.train_lungs import write_masks

    segmenter = LungSegmenter.load()
    if segmenter is None:
        return _fail("no lung segmenter is installed (weights/lungs.safetensors is missing)")
    if args.path.is_dir():
        paths = sorted(p for p in args.path.rglob("*") if p.suffix.lower() in dataset.IMAGE_SUFFIXES)
        if not paths:
            return _fail(f"{args.path} has no images ({', '.join(sorted(dataset.IMAGE_SUFFIXES))})")
    elif args.path.is_file():
        paths = [args.path]
    else:
        return _fail(f"{args.path}: no such file or folder")
    refused = write_masks(segmenter, paths, args.out)
    for name, reason in refused:
        print(f"refused {name}: {reason}", file=sys.stderr)
    print(f"{len(paths) - len(refused)} mask(s) written to {args.out}")
    return EXIT_BAD_INPUT if refused and len(refused) == len(paths) else 0


def _cmd_train_lungs(args) -> int:
    import torch

    from core.training.train_lungs import LungTrainConfig, train_lungs

    torch.set_num_threads(args.threads)
    train_lungs(LungTrainConfig(epochs=args.epochs), args.run_dir, resume=args.resume)
    return 0


def _cmd_export_lungs(args) -> int:
    from core.training.train_lungs import export_lungs

    meta = export_lungs(args.run_dir, args.out)
    print(json.dumps({k: meta[k] for k in ("validation", "test", "parameters", "training_minutes")}, indent=2))
    return 0


def _cmd_export_runtime(args) -> int:
    from core.evaluation.runtime_export import export_runtime
    from core.model_service import ModelService
    from core.training.dataset import KERMANY, list_labelled, load_pixels

    service = ModelService(args.weights)
    service.use_runtime("torch")  # the reference the export is checked against
    if not service.info.trained:
        return _fail("no trained classifier is installed: nothing to export")
    if args.if_stale:
        service.use_runtime("auto")
        if service.runtime is not None:
            print(f"the runtime export is current ({service.runtime_status})")
            return 0
        service.use_runtime("torch")
    samples = list_labelled(KERMANY / "train")
    if samples:  # real X-rays of both classes, evenly spaced; reading them tunes nothing
        grays = load_pixels(samples[:: max(len(samples) // args.images, 1)][: args.images], cache=False)
    else:
        print(f"warning: no X-rays under {KERMANY / 'train'}; checking the export on noise images", file=sys.stderr)
        grays = np.random.default_rng(0).integers(0, 256, (args.images, 224, 224), dtype=np.uint8)
    try:
        meta = export_runtime(service, grays)
    except RuntimeError as exc:
        return _fail(str(exc))
    print(json.dumps({k: meta[k] for k in ("engine", "onnxruntime", "checked_against_torch", "limits")}, indent=2))
    return 0


def _cmd_evaluate_lungs(args) -> int:
    from core.models.lungs import LungSegmenter
    from core.training.train_lungs import evaluate_folder

    segmenter = LungSegmenter.load()
    if segmenter is None:
        return _fail("no lung segmenter is installed (weights/lungs.safetensors is missing)")
    print(
        json.dumps(
            {"segmenter_version": segmenter.version, args.split: evaluate_folder(segmenter, args.split)}, indent=2
        )
    )
    return 0


def _cmd_limits_fit(args) -> int:
    from core.evaluation.limits_eval import fit_thresholds, write_limits_json
    from core.model_service import ModelService

    try:
        content = fit_thresholds(ModelService(args.weights))
    except ValueError as exc:
        return _fail(str(exc))
    path = write_limits_json(args.weights or ModelService().weights_dir, content)
    print(
        json.dumps(
            {"thresholds": content["thresholds"], "validation": content["validation"], "file": str(path)}, indent=2
        )
    )
    return 0


def _cmd_limits_eval(args) -> int:
    from core.evaluation.limits_eval import evaluate_test, write_limits_json
    from core.model_service import ModelService

    service = ModelService(args.weights)
    if not service.info.trained or service.segmenter is None:
        return _fail("limits-eval needs a trained classifier and lung segmenter in the weights folder")
    summary, records = evaluate_test(service)
    if args.write:
        write_limits_json(service.weights_dir, {"test": summary})
    if args.records:
        args.records.write_text(json.dumps(records, indent=1))
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.training.train_classifier import DEFAULT_RUN_DIR, TrainConfig

    parser = argparse.ArgumentParser(
        prog="python -m core", description="CXR Teaching Lab (educational, not diagnostic)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "analyze", help="classify images and summarise their Grad-CAM (one JSON line per file in a batch)"
    )
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--force",
        action="store_true",
        help="analyse even if the input guard says it is not a chest X-ray (recorded in the result)",
    )
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("report", help="educational report on one image (Gemini if a key is set, else offline)")
    p.add_argument("image", type=Path)
    p.add_argument("--lang", choices=("en", "ko"), default="en")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("explain", help="explanation maps of one image by many methods (--list to see them)")
    p.add_argument("image", type=Path, nargs="?", metavar="IMAGE")
    p.add_argument(
        "--methods", default=None, help="comma-separated names, or all (default: every method not marked slow)"
    )
    p.add_argument(
        "--target", choices=("NORMAL", "PNEUMONIA"), default=None, help="class explained (default: predicted)"
    )
    p.add_argument("--save-maps", type=Path, default=None, metavar="DIR", help="write <method>.npy (float32, 224x224)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--list", action="store_true", help="list the methods, their family and default parameters")
    p.add_argument("--force", action="store_true", help="explain even if the input check says it is not a chest X-ray")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("bench", help="time the analysis path against the forward pass and pytorch-grad-cam")
    p.add_argument("--json", action="store_true")
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--gradient-images", type=int, default=2, help="images for the gradient-set timing (0: skip; ~1 min each)"
    )
    p.add_argument(
        "--sanity-images", type=int, default=1, help="images for the randomisation-check timing (0: skip; seconds)"
    )
    p.add_argument(
        "--sanity-methods",
        default="fast",
        help="methods for the randomisation-check timing: fast (every method not marked slow, and the control), "
        "all (the slow ones add about a minute), or NAME,...",
    )
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "xai-eval",
        help="trust tests of the explanation maps over a folder: randomisation, faithfulness, stability, lungs",
    )
    p.add_argument("folder", type=Path, metavar="DIR", help="NORMAL/ + PNEUMONIA/ sub-folders, or image files")
    p.add_argument("--limit", type=int, default=None, help="at most N images, balanced by class (every k-th)")
    p.add_argument(
        "--methods", default=None, help="comma-separated names or all (default: every fast method and the control)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--levels", default="all", help="randomisation levels, cumulative from the top (default: all six)")
    p.add_argument("--slow-levels", default=None, help="levels for the slow methods (default: --levels)")
    p.add_argument("--steps", type=int, default=16, help="deletion/insertion steps")
    p.add_argument("--random-maps", type=int, default=1, help="random maps per smoothness bucket and image")
    p.add_argument("--road-percentiles", default="50,70,90", help="ROAD percentiles (p removes 100-p %%), or none")
    p.add_argument("--stability-samples", type=int, default=3, help="max-sensitivity noise samples")
    p.add_argument("--slow-stability-samples", type=int, default=None, help="for the slow methods (default: as above)")
    p.add_argument("--radius", type=float, default=0.02, help="noise radius, fraction of the 0..1 grey range")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--params", default=None, help='method parameter overrides as JSON, e.g. \'{"lime": {"samples": 100}}\''
    )
    p.add_argument("--slow-limit", type=int, default=None, help="run the slow methods on the first N images only")
    p.add_argument("--max-minutes", type=float, default=None, help="start no new image after this much wall time")
    p.add_argument("--records", type=Path, default=None, metavar="FILE", help="per-image records as JSON lines")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the images --records FILE already holds (same settings, model and methods) and add the rest",
    )
    p.set_defaults(func=_cmd_xai_eval)

    p = sub.add_parser("evaluate", help="metrics of the installed model on a folder with NORMAL/ and PNEUMONIA/")
    p.add_argument("folder", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="calibrate a finished run and write weights + model card JSON")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    p.add_argument("--out", type=Path, default=Path("weights"))
    p.add_argument("--no-test", action="store_true", help="skip reporting on kermany224/test")
    p.add_argument(
        "--epoch", type=int, default=None, help="export this epoch's snapshot instead of the one chosen on validation"
    )
    p.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the replaced model's figures (and test predictions) for the Model Card",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("fit-guard", help="fit the input guard and uncertainty band for the weights in a folder")
    p.add_argument("--weights", type=Path, default=Path("weights"))
    p.add_argument("--max-train", type=int, default=None, help="subsample the training split (faster, rougher)")
    p.set_defaults(func=_cmd_fit_guard)

    p = sub.add_parser("guard-eval", help="rejection rates of the input guard on images nobody trained on")
    p.add_argument("--weights", type=Path, default=None, help="weights folder (default: the installed one)")
    p.add_argument("--limit", type=int, default=None, help="at most this many kermany test/validation images")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--write", action="store_true", help="record the per-category figures in classifier.json (Model Card)"
    )
    p.set_defaults(func=_cmd_guard_eval)

    p = sub.add_parser("train", help="train the classifier on kermany224/train (resumable)")
    p.add_argument("--schedule", default=TrainConfig.schedule, help="resolution x epochs, e.g. 128x8,160x8,224x4")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--max-lr", type=float, default=TrainConfig.max_lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--init-weights", type=Path, default=None, help="start from these safetensors (fine-tuning)")
    p.add_argument("--pct-start", type=float, default=TrainConfig.pct_start)
    p.add_argument("--label-smoothing", type=float, default=TrainConfig.label_smoothing)
    p.add_argument("--ema-decay", type=float, default=TrainConfig.ema_decay, help="weight EMA decay per step, 0 = off")
    p.add_argument("--augmentation", choices=("v1", "strong"), default=TrainConfig.augmentation)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.set_defaults(func=_cmd_train)

    from core.training.train_lungs import RUN_DIR as LUNG_RUN_DIR
    from core.training.train_lungs import LungTrainConfig

    p = sub.add_parser("lungs", help="write a binary lung-field mask PNG (0/255) per image")
    p.add_argument("path", type=Path, help="an image or a folder of images")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_lungs)

    p = sub.add_parser("train-lungs", help="train the lung-field U-Net on lungs224/train (resumable)")
    p.add_argument("--epochs", type=int, default=LungTrainConfig.epochs)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run-dir", type=Path, default=LUNG_RUN_DIR)
    p.add_argument("--resume", action="store_true")
    p.set_defaults(func=_cmd_train_lungs)

    p = sub.add_parser("export-lungs", help="write weights/lungs.safetensors + lungs.json (validation and test Dice)")
    p.add_argument("--run-dir", type=Path, default=LUNG_RUN_DIR)
    p.add_argument("--out", type=Path, default=Path("weights"))
    p.set_defaults(func=_cmd_export_lungs)

    p = sub.add_parser(
        "export-runtime",
        help="export the classifier and lung U-Net to ONNX Runtime (the fast CPU prediction path), checked against torch",
    )
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--images", type=int, default=16, help="real X-rays the export is checked on (default 16)")
    p.add_argument("--if-stale", action="store_true", help="do nothing when the export already matches the weights")
    p.set_defaults(func=_cmd_export_runtime)

    p = sub.add_parser("evaluate-lungs", help="Dice of the installed lung segmenter on lungs224/<split>")
    p.add_argument("--split", default="test")
    p.set_defaults(func=_cmd_evaluate_lungs)

    p = sub.add_parser("limits-fit", help="fit the shortcut-flag thresholds on the classifier's validation split")
    p.add_argument("--weights", type=Path, default=None)
    p.set_defaults(func=_cmd_limits_fit)

    p = sub.add_parser("limits-eval", help="shortcut flags and explanation metrics on kermany224/test")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--write", action="store_true", help="store the summary in weights/limits.json (model card)")
    p.add_argument("--records", type=Path, default=None, help="also write per-image records to this JSON file")
    p.set_defaults(func=_cmd_limits_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
