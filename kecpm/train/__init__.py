"""Stage 2 training: ``TrainConfig``, the ``Trainer``, and runs of one model per few-shot seed.

Names are imported on first use, so reading ``kecpm.train.config`` (the CLI's help) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"TrainConfig": "config", "Trainer": "trainer", "set_seed": "trainer", "train_seed": "run",
          "train_splits": "run"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"kecpm.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kecpm.train' has no attribute {name!r}")
