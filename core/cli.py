"""`python -m core …`: the command-line face of the domain code."""
from __future__ import annotations

import argparse
import sys


def _cmd_train(args) -> int:
    import torch

    from core.train import TrainConfig, train

    torch.set_num_threads(args.threads)
    config = TrainConfig(schedule=args.schedule, batch_size=args.batch_size, max_lr=args.max_lr, seed=args.seed)
    train(config, args.run_dir, resume=args.resume)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="CXR Teaching Lab (educational, not diagnostic)")
    sub = parser.add_subparsers(dest="command", required=True)

    from pathlib import Path

    from core.train import DEFAULT_RUN_DIR, TrainConfig

    p = sub.add_parser("train", help="train the classifier on kermany224/train (resumable)")
    p.add_argument("--schedule", default=TrainConfig.schedule, help="resolution x epochs, e.g. 128x8,160x8,224x4")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--max-lr", type=float, default=TrainConfig.max_lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
