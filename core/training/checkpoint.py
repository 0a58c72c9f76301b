"""Per-epoch checkpoints shared by the classifier and lung trainers: atomic save, checked resume."""

from __future__ import annotations

from pathlib import Path

import torch

LAST = "last.pt"


def save_checkpoint(
    run_dir: Path, config: dict, model, opt, sched, epoch: int, history: list, elapsed: float, ema=None
) -> Path:
    """Everything `resume_from` restores, written via a temporary file and a rename: a kill mid-save keeps
    the previous epoch."""
    state = {
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "epoch": epoch,
        "history": history,
        "elapsed": elapsed,
        "config": config,
    }
    if ema is not None:
        state["ema"] = ema.state_dict()
    tmp, last = run_dir / "last.tmp", run_dir / LAST
    torch.save(state, tmp)
    tmp.replace(last)
    return last


def resume_from(run_dir: Path, config: dict, model, opt, sched, ema=None) -> tuple[list, int, float]:
    """Restore model/optimiser/schedule from the run's last epoch → (history, next epoch, seconds so far).

    Refuses a checkpoint made with another configuration: resuming it would silently train a mix.
    """
    last = run_dir / LAST
    if not last.is_file():
        return [], 0, 0.0
    ckpt = torch.load(last, weights_only=False)
    if ckpt["config"] != config:
        raise SystemExit(f"--resume: {last} was made with another config: {ckpt['config']}")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    if ema is not None:
        ema.load_state_dict(ckpt["ema"])
    return ckpt["history"], ckpt["epoch"] + 1, ckpt["elapsed"]
