"""Both trainers checkpoint every epoch and resume after an interruption to exactly the same weights."""

import shutil
from pathlib import Path

import pytest
import torch

from core.training import dataset
from core.training import train_classifier as train
from core.training import train_lungs as lungs_train


@pytest.fixture
def mini_data(tmp_path, monkeypatch):
    """A tiny kermany224/train + lungs224/train copy (12 images a class, masks for the first 8)."""
    kermany, lungs = tmp_path / "kermany224", tmp_path / "lungs224"
    for name in ("NORMAL", "PNEUMONIA"):
        (kermany / "train" / name).mkdir(parents=True)
        (lungs / "train" / name).mkdir(parents=True)
        masks = sorted((lungs_train.LUNGS / "train" / name).glob("*.png"))[:8]
        for mask in masks:
            shutil.copy(mask, lungs / "train" / name / mask.name)
            shutil.copy(dataset.KERMANY / "train" / name / f"{mask.stem}.jpeg", kermany / "train" / name)
        for src in sorted((dataset.KERMANY / "train" / name).glob("*.jpeg"))[:4]:
            shutil.copy(src, kermany / "train" / name / src.name)
    monkeypatch.setattr(dataset, "KERMANY", kermany)
    monkeypatch.setattr(dataset, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(lungs_train, "LUNGS", lungs)
    torch.set_num_threads(1)  # bit-for-bit comparisons need the same reduction order
    return tmp_path


class Interrupt(Exception):
    pass


def interrupt_on_call(monkeypatch, module, name: str, call: int) -> None:
    """Make module.name raise on its `call`-th use, like a session ending mid-epoch."""
    real, count = getattr(module, name), {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] == call:
            raise Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=False)["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def resume_matches_uninterrupted(monkeypatch, run, config, whole: Path, broken: Path, step: tuple) -> Path:
    """Train `whole` in one go; train `broken` until step = (module, name, nth call) raises in epoch 2, then
    resume it: the weights must be bit-identical. Returns the resumed run's last checkpoint."""
    finished = run(config, whole)
    with monkeypatch.context() as m:
        interrupt_on_call(m, *step)
        with pytest.raises(Interrupt):
            run(config, broken)
    assert torch.load(broken / "last.pt", weights_only=False)["epoch"] == 0
    resumed = run(config, broken, resume=True)
    assert same(weights(finished), weights(resumed))
    return resumed


@pytest.mark.parametrize(
    "recipe",
    [
        {},
        # the fine-tuning recipe: warm start, weight EMA, label smoothing, strong augmentation
        {"ema_decay": 0.9, "label_smoothing": 0.1, "augmentation": "strong", "pct_start": 0.1, "init": True},
    ],
    ids=["from-scratch", "fine-tune"],
)
def test_classifier_resumes_to_the_same_weights(mini_data, monkeypatch, recipe):
    recipe = dict(recipe)
    if recipe.pop("init", False):
        from safetensors.torch import save_file

        from core.models.classifier import build_resnet34
        from core.models.weights import sha256_file

        init = mini_data / "init.safetensors"
        torch.manual_seed(5)
        save_file({k: v.contiguous() for k, v in build_resnet34().state_dict().items()}, str(init))
        recipe |= {"init_weights": str(init), "init_sha256": sha256_file(init)}
    config = train.TrainConfig(schedule="64x1,80x1", batch_size=4, val_fraction=0.25, **recipe)
    # 4 steps an epoch: the 6th call of augment is in epoch 2
    resumed = resume_matches_uninterrupted(
        monkeypatch, train.train, config, mini_data / "whole", mini_data / "broken", (train, "augment", 6)
    )
    if config.ema_decay:  # the averaged copy resumes too, and each epoch's snapshot is the averaged one
        last = torch.load(resumed, weights_only=False)
        assert same(last["ema"], torch.load(mini_data / "whole" / "last.pt", weights_only=False)["ema"])
        snapshot = torch.load(mini_data / "broken" / "epoch-02.pt", weights_only=False)["model"]
        assert same(snapshot, {k[len("module.") :]: v for k, v in last["ema"].items() if k.startswith("module.")})
        assert "ema" in last["history"][-1] and "shift_loss" in last["history"][-1]["ema"]
        from core.training.export import select_checkpoint

        chosen, epoch, table = select_checkpoint(mini_data / "whole")  # validation of each snapshot
        assert [r["epoch"] for r in table] == [1, 2]
        assert min(table, key=lambda r: r["selection_loss"])["epoch"] == epoch
        assert chosen == mini_data / "whole" / f"epoch-{epoch:02d}.pt"
    other = train.TrainConfig(schedule="64x3", batch_size=4, val_fraction=0.25)
    with pytest.raises(SystemExit, match="another config"):
        train.train(other, mini_data / "broken", resume=True)


def test_lung_trainer_resumes_to_the_same_weights(mini_data, monkeypatch):
    config = lungs_train.LungTrainConfig(epochs=2, batch_size=4, val_fraction=0.25)
    # 3 steps an epoch: the 4th call of augment_pair is in epoch 2
    resume_matches_uninterrupted(
        monkeypatch,
        lungs_train.train_lungs,
        config,
        mini_data / "lwhole",
        mini_data / "lbroken",
        (lungs_train, "augment_pair", 4),
    )
