"""The moving average of the weights (train.ema): the arithmetic, swapping, and a run that keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from kecpm.config import ConfigError
from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.train import TrainConfig, Trainer
from kecpm.train.ema import WeightAverage

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def test_average_follows_the_decay_and_swaps_back():
    lin = nn.Linear(1, 1, bias=False)
    frozen = nn.Linear(1, 1, bias=False).requires_grad_(False)
    model = nn.Sequential(lin, frozen)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    avg = WeightAverage(model, decay=0.5)
    assert list(avg.params) == ["0.weight"]  # frozen weights are not averaged
    with torch.no_grad():
        lin.weight.fill_(1.0)
    avg.update()  # first update: decay min(0.5, 1/10) = 0.1 -> 0.1 * 0 + 0.9 * 1
    assert avg.shadow["0.weight"].item() == pytest.approx(0.9)
    avg.update()  # decay min(0.5, 2/11)
    assert avg.shadow["0.weight"].item() == pytest.approx(0.9 * 2 / 11 + 9 / 11)
    with avg.swapped():
        assert lin.weight.item() == pytest.approx(avg.shadow["0.weight"].item())
    assert lin.weight.item() == 1.0


def _trainer(out: Path | None, ema: float) -> Trainer:
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(epochs=2, batch_size=4, seed=3, threads=1, patience=0, progress=False, ema=ema,
                       tune_thresholds=False)
    return Trainer(model, args, posts[:6], posts[6:], out_dir=out)


@pytest.mark.slow
def test_a_run_keeps_the_averaged_weights_and_resumes_with_them(tmp_path, monkeypatch):
    plain, avg = _trainer(None, 0.0), _trainer(None, 0.9)
    plain.train()
    state = avg.train()
    assert avg.ema is not None and avg.ema.updates == 4  # 2 epochs x 2 steps
    # the same steps were taken; the kept model is the average of epoch best_epoch, not the last weights
    assert state["history"][0]["loss"] == plain.state["history"][0]["loss"]
    name = "heads.span.verbalizer.labels"
    assert not torch.equal(dict(avg.model.named_parameters())[name], dict(plain.model.named_parameters())[name])
    killed = _trainer(tmp_path / "k", 0.9)
    real = killed._epoch
    monkeypatch.setattr(killed, "_epoch", lambda e: (_ for _ in ()).throw(KeyboardInterrupt) if e == 2 else real(e))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    resumed = _trainer(tmp_path / "k", 0.9)
    assert resumed.train()["history"] == [{**h, "seconds": r["seconds"]} for h, r in
                                          zip(state["history"], resumed.state["history"], strict=True)]
    assert resumed.ema.updates == 4


def test_decay_is_validated():
    with pytest.raises(ConfigError, match="ema"):
        TrainConfig(ema=1.0)
