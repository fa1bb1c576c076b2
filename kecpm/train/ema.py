"""Exponential moving average of a model's trained weights (``train.ema``).

Few-shot runs move a lot from step to step and pick their best epoch on a small validation set; the
average of the recent weights is a smoother model. ``update`` after every optimizer step folds the
current weights in with decay ``min(decay, (1 + t) / (10 + t))`` (a short memory over the first
steps, as TensorFlow's ExponentialMovingAverage with ``num_updates``); ``swapped()`` puts the averaged
weights into the model for validation and saving and puts the trained ones back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """The moving average of ``model``'s parameters that train (``requires_grad`` when it is made)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.shadow = {n: p.detach().clone() for n, p in self.params.items()}
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for n, p in self.params.items():
            self.shadow[n].mul_(d).add_(p.detach(), alpha=1 - d)
        self.updates += 1

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """Inside: the model holds the averaged weights; after: its trained weights again."""
        with torch.no_grad():
            trained = {n: p.detach().clone() for n, p in self.params.items()}
            for n, p in self.params.items():
                p.copy_(self.shadow[n])
        try:
            yield
        finally:
            with torch.no_grad():
                for n, p in self.params.items():
                    p.copy_(trained[n])

    def state_dict(self) -> dict[str, object]:
        return {"shadow": self.shadow, "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        with torch.no_grad():
            for n, t in state["shadow"].items():  # type: ignore[union-attr]
                self.shadow[n].copy_(t)
        self.updates = int(state["updates"])  # type: ignore[arg-type]
