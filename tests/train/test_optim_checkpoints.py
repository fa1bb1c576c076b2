"""The optimizer kernel (train.fused_adamw) and when the trainer writes its resume checkpoint (train.checkpoint_minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.train import TrainConfig, Trainer

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def _trainer(out: Path | None, **train: object) -> Trainer:
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(**{"epochs": 2, "batch_size": 4, "seed": 3, "threads": 1, "patience": 0, "progress": False,
                          "tune_thresholds": False, **train})
    return Trainer(model, args, posts[:6], posts[6:], out_dir=out)


def test_negative_checkpoint_minutes_is_refused():
    with pytest.raises(ConfigError, match="checkpoint_minutes"):
        TrainConfig(checkpoint_minutes=-1)


@pytest.mark.slow
def test_fused_adamw_takes_the_same_steps_up_to_rounding():
    fused, loop = _trainer(None), _trainer(None, fused_adamw=False)
    assert fused.optimizer.defaults["fused"] and not loop.optimizer.defaults["fused"]
    a, b = fused.train()["history"], loop.train()["history"]
    assert [h["loss"] for h in a] == pytest.approx([h["loss"] for h in b], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(("minutes", "written"), [(60.0, [1, 3]), (0.0, [1, 2, 3])])
def test_checkpoints_after_the_best_epoch_the_last_and_when_due(tmp_path, monkeypatch, minutes, written):
    trainer = _trainer(tmp_path / "run", epochs=3, checkpoint_minutes=minutes, select_window=1)
    scores = iter([0.5, 0.4, 0.3])  # epoch 1 stays the best
    monkeypatch.setattr(trainer, "_selection_score", lambda: next(scores))
    saved, real = [], trainer._save_checkpoint
    monkeypatch.setattr(trainer, "_save_checkpoint", lambda: (saved.append(trainer.state["epoch"]), real()))
    state = trainer.train()
    assert saved == written and state["best_epoch"] == 1
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["state"]["epoch"] == 3
