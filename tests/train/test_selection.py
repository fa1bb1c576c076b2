"""Epochs and thresholds are chosen on val by the thresholds alone; the saved model keeps min_triples; with
select_window the best epoch is the one ending the best stretch of val scores."""

from __future__ import annotations

from pathlib import Path

import torch

from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.train import TrainConfig, Trainer

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def test_val_selection_decodes_without_min_triples(tmp_path):
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    config = ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False, min_triples=1,
                         entity_threshold=1e-9, relation_threshold=1e-9)  # no span passes on its own
    args = TrainConfig(epochs=1, batch_size=4, seed=3, threads=1, patience=0, progress=False, tune_thresholds=False)
    trainer = Trainer(PromptModel.create(config), args, posts[:6], posts[6:], out_dir=tmp_path)
    state = trainer.train()
    assert state["history"][0]["entity_f1"] == 0.0  # val read without the constraint: nothing found
    assert trainer.evaluate()["entity_f1"] > 0.0  # the model itself keeps a pair of entities per post
    assert trainer.model.config.min_triples == 1
    assert PromptModel.load(tmp_path / "model").config.min_triples == 1


def _window_trainer(tmp_path: Path, window: int) -> Trainer:
    """4 epochs on the tiny posts, selected on val entity F1 with a window of ``window`` epochs, no early stop."""
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    config = ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False)
    args = TrainConfig(epochs=4, batch_size=4, seed=3, threads=1, patience=0, progress=False, tune_thresholds=False,
                       select_window=window, metric="entity_f1")
    return Trainer(PromptModel.create(config), args, posts[:6], posts[6:], out_dir=tmp_path)


def test_select_window_picks_the_epoch_ending_the_best_stretch(tmp_path):
    trainer = _window_trainer(tmp_path, 2)
    state = trainer.train()
    assert trainer.selected_on == "entity_f1 (mean of the last 2 epochs)"
    val = [h["entity_f1"] for h in state["history"]]
    means = [val[0]] + [(a + b) / 2 for a, b in zip(val[:-1], val[1:], strict=True)]
    assert [h["selection"] for h in state["history"]] == means
    full = means[1:]  # epoch 1's window holds one reading: kept only until the first full window
    assert state["best_epoch"] == 2 + full.index(max(full)) and state["best_score"] == max(full)


def test_a_lucky_first_reading_does_not_outrank_the_first_full_window(tmp_path, monkeypatch):
    """Val readings 0.9, 0.1, 0.5, 0.6 with a window of 3: the trailing means are 0.9, 0.5, 0.5, 0.4; epoch 1's
    0.9 is a window of one reading, so the first full window (epoch 3) replaces it and stays best."""
    trainer = _window_trainer(tmp_path, 3)
    readings = iter([0.9, 0.1, 0.5, 0.6])
    monkeypatch.setattr(trainer, "evaluate", lambda: {"entity_f1": next(readings)})
    state = trainer.train()
    assert [round(h["selection"], 6) for h in state["history"]] == [0.9, 0.5, 0.5, 0.4]
    assert state["best_epoch"] == 3 and abs(state["best_score"] - 0.5) < 1e-9
