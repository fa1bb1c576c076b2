"""``--device auto|cpu|cuda[:N]``: where models run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kecpm.config import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (cuda when available, else cpu) | cpu | cuda | cuda:N"


def check_device(name: str) -> str:
    """``name`` if it is a valid device choice, else a ConfigError."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise ConfigError(f"device: {name!r} is not one of {DEVICE_HELP}")
    return name


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name``; asking for CUDA where there is none is a ConfigError."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name}: no CUDA device here (torch.cuda.is_available() is False); use cpu or auto")
    return torch.device(name)
