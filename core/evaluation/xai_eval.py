"""`python -m core xai-eval DIR`: every trust test of the Explanation Lab's maps over a folder of X-rays.

A folder with NORMAL/ and PNEUMONIA/ (ground truth kept for the record) or of loose image files.
`--limit N` picks N images deterministically and balanced by class: evenly spaced positions in
each class's sorted file list (every k-th), never chosen by any result. Each image goes through
the same reading, input check and refusals as `core analyze` (the command line hands its reader
in); refused or unreadable files are skipped and counted. The target of every map is the class the
model predicts for the image; the lung mask is the committed U-Net's, from the input check's
pass. core.explain.trust computes the figures; the report keeps the parameters, the model
version, N and the wall time.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.explain.trust import TrustSettings, aggregate, decision_logodds, image_trust, randomised_models
from core.explain.trust.maps import is_slow
from core.explain.trust.randomisation import LEVEL_TITLES, VERDICT_RULE
from core.imaging.preprocess import to_model_input
from core.model_service import ModelService
from core.models.lungs import clean_mask
from core.training import dataset
from core.vocabulary import CLASS_NAMES

Reader = Callable[[Path], tuple[Any, tuple[str, str] | None]]  # path → (analysis, None) or (None, (stage, reason))


class BadFolder(ValueError):
    """The folder does not exist or holds no image."""


def list_images(folder: Path) -> list[tuple[Path, str | None]]:
    """(path, ground truth) of NORMAL/ and PNEUMONIA/ images, else (path, None) of the loose image files."""
    folder = Path(folder)
    if not folder.exists():
        raise BadFolder(f"{folder}: no such folder")
    if not folder.is_dir():
        raise BadFolder(f"{folder} is not a folder; give a folder of X-rays (NORMAL/ + PNEUMONIA/, or image files)")
    labelled = dataset.list_labelled(folder)
    if labelled:
        return [(s.path, CLASS_NAMES[s.label]) for s in labelled]
    loose = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in dataset.IMAGE_SUFFIXES)
    if not loose:
        suffixes = ", ".join(sorted(dataset.IMAGE_SUFFIXES))
        raise BadFolder(f"{folder} has no images (NORMAL/ and PNEUMONIA/ sub-folders, or {suffixes} files)")
    return [(p, None) for p in loose]


def evenly_spaced(items: list, n: int) -> list:
    """n items at evenly spaced positions (every k-th, k = len/n, from the first)."""
    if n >= len(items):
        return list(items)
    return [items[int(i * len(items) / n)] for i in range(n)]


def pick_balanced(items: list[tuple[Path, str | None]], limit: int | None) -> list[tuple[Path, str | None]]:
    """At most `limit` items, shared equally between the classes (a class short of its share gives the
    rest), evenly spaced within each class, then interleaved class by class (NORMAL, PNEUMONIA,
    NORMAL, …) so that every prefix of the list is balanced too (--slow-limit, --max-minutes)."""
    groups: dict[str | None, list] = {}
    for item in items:
        groups.setdefault(item[1], []).append(item)
    quotas = {g: len(members) for g, members in groups.items()}
    if limit is not None and limit < len(items):
        quotas = dict.fromkeys(groups, 0)
        left = limit
        while left > 0:
            open_groups = [g for g in groups if quotas[g] < len(groups[g])]
            for g in open_groups[:left]:
                quotas[g] += 1
                left -= 1
    picked = [evenly_spaced(members, quotas[g]) for g, members in groups.items()]
    return [lst[i] for i in range(max(map(len, picked), default=0)) for lst in picked if i < len(lst)]


def records_header(model_version: str, names: list[str], settings: TrustSettings, limit, slow_limit) -> dict:
    """The first line of a records file: what must match for a resumed run to add to it."""
    return {
        "xai_eval_records": 1,
        "model_version": model_version,
        "methods": list(names),
        "settings": settings.to_dict(),
        "limit": limit,
        "slow_limit": slow_limit,
    }


def read_records(path: Path, header: dict) -> tuple[dict[str, dict], list[dict]]:
    """An earlier run's records ({file: record}) and run lines, if it used these settings; else BadFolder."""
    if not path.is_file():
        return {}, []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines or lines[0] != json.loads(json.dumps(header)):
        raise BadFolder(f"{path} was written with other settings, model or methods: resume with the same ones")
    done = {
        line["file"]: {k: v for k, v in line.items() if k not in ("file", "truth")} for line in lines if "file" in line
    }
    return done, [line["run"] for line in lines if "run" in line]


def image_entry(path: Path, truth: str | None, analysis) -> dict:
    return {
        "file": path.name,
        "truth": truth,
        "predicted": analysis.label,
        "probability_pneumonia": round(float(analysis.probability), 4),
    }


def evaluate_folder(
    service: ModelService,
    folder: Path,
    read: Reader,
    names: list[str],
    settings: TrustSettings,
    limit: int | None = None,
    slow_limit: int | None = None,
    max_minutes: float | None = None,
    records_file: Path | None = None,
    progress_file=None,
    resume: bool = False,
) -> dict:
    """The xai-eval report: metadata, per-method summaries with 95 % bootstrap intervals, per-image list.

    `slow_limit`: the registry's slow methods run on the first that many evaluated images only (a
    balanced prefix); `max_minutes`: no new image is started after that much wall time (the rest of
    the planned list is left out and the report says so); `records_file`: every image's full
    record, one JSON line each, as it is done, after a header line with the run's settings;
    `resume`: keep the images that file already holds (its settings must be these) and append the rest.
    """
    t0 = time.perf_counter()
    chosen = pick_balanced(list_images(folder), limit)
    margin = decision_logodds(service.info.temperature, service.info.threshold)
    header = records_header(service.version, names, settings, limit, slow_limit)
    done, earlier_runs = read_records(records_file, header) if resume and records_file is not None else ({}, [])
    cascade = randomised_models(service.model, settings.all_levels(), settings.seed)
    records: list[dict] = []
    images: list[dict] = []
    skipped = {"unreadable": 0, "not_chest_xray": 0}
    skipped_files = []
    stopped_early = False
    records_out = None
    if records_file is not None:
        records_out = open(records_file, "a" if done or earlier_runs else "w")
        if not (done or earlier_runs):
            records_out.write(json.dumps(header) + "\n")
    new_images = 0
    bar = tqdm(chosen, desc="xai-eval", unit="image", file=progress_file or sys.stderr, dynamic_ncols=True)
    for index, (path, truth) in enumerate(bar):
        if path.name not in done and max_minutes is not None and time.perf_counter() - t0 > 60.0 * max_minutes:
            stopped_early = True
            break
        analysis, refused = read(path)
        if path.name in done and refused is None:  # measured by an earlier run of these settings
            records.append(done[path.name])
            images.append(image_entry(path, truth, analysis))
            continue
        if refused is not None:
            kind = refused[0] if refused[0] in skipped else "unreadable"
            skipped[kind] += 1
            skipped_files.append({"file": path.name, "stage": kind, "reason": refused[1]})
            continue
        target = CLASS_NAMES.index(analysis.label)
        lung = None if analysis.lung_probability is None else clean_mask(analysis.lung_probability >= 0.5)
        x = to_model_input(analysis.model_input)

        def show_stage(name: str, file: str = path.name) -> None:
            bar.set_postfix_str(f"{file}: {name}", refresh=True)

        started = time.perf_counter()
        # Score-CAM draws a tqdm bar per call on stderr: this command shows its own progress instead.
        run = names if slow_limit is None or len(records) < slow_limit else [n for n in names if not is_slow(n)]
        with contextlib.redirect_stderr(io.StringIO()):
            record = image_trust(
                service.model,
                x,
                target,
                run,
                lung,
                settings,
                margin,
                models=cascade,
                seed=settings.seed + index,
                on_stage=show_stage,
            )
        record["seconds"] = round(time.perf_counter() - started, 1)
        records.append(record)
        new_images += 1
        if records_out is not None:
            records_out.write(json.dumps({"file": path.name, "truth": truth, **record}) + "\n")
            records_out.flush()
        images.append(image_entry(path, truth, analysis))
    bar.close()
    this_run = {"run": {"wall_time_s": round(time.perf_counter() - t0, 1), "new_images": new_images}}
    if records_out is not None:
        records_out.write(json.dumps(this_run) + "\n")
        records_out.close()
    runs = [*earlier_runs, this_run["run"]]
    summary = aggregate(records, names) if records else {"methods": {}, "agreement_spearman": None, "lung_area": None}
    by_class = {name: sum(1 for i in images if i["truth"] == name) for name in CLASS_NAMES}
    return {
        "what": "xai-eval: trust tests of the Explanation Lab's maps (core.explain.trust)",
        "model_version": service.version,
        "model_trained": service.info.trained,
        "segmenter_version": service.segmenter.version if service.segmenter is not None else None,
        "folder": str(folder),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # Over the runs that measured these images (a run that only read records back adds nothing).
        "wall_time_s": round(sum(r["wall_time_s"] for r in runs if r["new_images"]), 1),
        "runs": runs,
        "seconds_per_image_median": (
            round(float(np.median(timed)), 1) if (timed := [r["seconds"] for r in records if "seconds" in r]) else None
        ),
        "n_images": len(records),
        "n_planned": len(chosen),
        "stopped_early": stopped_early,
        "n_images_slow_methods": min(len(records), slow_limit) if slow_limit is not None else len(records),
        "n_by_truth": by_class if any(i["truth"] for i in images) else None,
        "n_by_prediction": {name: sum(1 for i in images if i["predicted"] == name) for name in CLASS_NAMES},
        "skipped": skipped,
        "skipped_files": skipped_files,
        "selection": (
            (
                f"--limit {limit}: evenly spaced positions (every k-th) in each class's sorted file list, equal shares"
                if limit is not None
                else "every image"
            )
            + ", interleaved class by class (every prefix balanced)"
            + (f"; slow methods on the first {slow_limit} evaluated" if slow_limit is not None else "")
            + (f"; no image started after {max_minutes:g} min" if max_minutes is not None else "")
        ),
        "target": "the predicted class of each image",
        "parameters": {
            **settings.to_dict(),
            "methods": list(names),
            "limit": limit,
            "slow_limit": slow_limit,
            "max_minutes": max_minutes,
            "decision_logodds": round(margin, 4),
            "bootstrap": "95 % percentile interval of the mean over images, numpy, 1000 resamples, seed 0",
        },
        "verdict_rule": VERDICT_RULE,
        "level_titles": LEVEL_TITLES,
        "methods": summary["methods"],
        "agreement_spearman": summary["agreement_spearman"],
        "lung_area": summary["lung_area"],
        "images": images,
    }


def format_interval(stat: dict | None, percent: bool = False, signed: bool = False) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    fmt = (lambda v: f"{v:.0%}") if percent else ((lambda v: f"{v:+.2f}") if signed else (lambda v: f"{v:.2f}"))
    low, high = stat["ci95"]
    return f"{fmt(stat['mean'])} [{fmt(low)}, {fmt(high)}]"


def text_report(report: dict) -> str:
    """The per-method table (means) and, per method, every figure with its 95 % interval."""
    lines = [
        f"xai-eval of model {report['model_version']} on {report['folder']}: {report['n_images']} images "
        f"(skipped: {report['skipped']['unreadable']} unreadable, {report['skipped']['not_chest_xray']} not a chest "
        f"X-ray), {report['wall_time_s']:.0f} s",
        f"verdict rule: {report['verdict_rule']}",
        "",
        f"{'method':26} {'verdict':7} {'rho@v':>6} {'del-rnd':>8} {'ins-rnd':>8} {'road-rnd':>8} {'stab':>6} "
        f"{'lungs':>6} {'~gcam':>6} {'ms':>7}",
    ]

    def mean(stat, fmt="{:.2f}"):
        return "-" if not stat or stat.get("mean") is None else fmt.format(stat["mean"])

    for name, m in report["methods"].items():
        level = m["randomization_verdict_level"]
        lines.append(
            f"{name:26} {str(m['randomization_verdict']).upper():7} {mean(m['randomization_spearman'][level]):>6} "
            f"{mean(m['deletion_vs_random'], '{:+.2f}'):>8} {mean(m['insertion_vs_random'], '{:+.2f}'):>8} "
            f"{mean(m['road_vs_random'], '{:+.2f}'):>8} {mean(m['stability_max_sensitivity']):>6} "
            f"{mean(m['lung_share'], '{:.0%}'):>6} {mean(m['agreement_gradcam']):>6} {m['ms_median']:>7.0f}"
        )
    lines.append(f"lung area (a flat map's in-lung share): {format_interval(report['lung_area'], percent=True)}")
    lines.append("")
    for name, m in report["methods"].items():
        rho = ", ".join(f"{lv} {format_interval(v)}" for lv, v in m["randomization_spearman"].items())
        ssim = ", ".join(f"{lv} {format_interval(v)}" for lv, v in m["randomization_ssim"].items())
        lines += [
            f"{name} ({m['family']}): randomisation {str(m['randomization_verdict']).upper()} at "
            f"{m['randomization_verdict_level']} (pass rate {m['randomization_pass_rate']:.0%}); median {m['ms_median']:.0f} ms",
            f"  Spearman: {rho}",
            f"  SSIM:     {ssim}",
            f"  deletion {format_interval(m['deletion_auc'], signed=True)}, vs random "
            f"{format_interval(m['deletion_vs_random'], signed=True)}; insertion "
            f"{format_interval(m['insertion_auc'], signed=True)}, vs random {format_interval(m['insertion_vs_random'], signed=True)}",
            f"  ROAD {format_interval(m['road'], signed=True)}, vs random {format_interval(m['road_vs_random'], signed=True)}; "
            f"stability {format_interval(m['stability_max_sensitivity'])} ({m['stability_samples']} samples, "
            f"{m['stability_flipped_draws']} flipped draws redrawn)",
            f"  in lungs {format_interval(m['lung_share'], percent=True)}; agreement with Grad-CAM "
            f"{format_interval(m['agreement_gradcam'])}",
        ]
    return "\n".join(lines)
