"""Progress bars that show on a terminal and stay quiet in a log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def interactive() -> bool:
    """Whether stderr is a terminal (bars redraw there; in a file every redraw would be a line)."""
    return sys.stderr.isatty()


def progress(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar, disabled when ``enabled`` is False or stderr is not a terminal."""
    return tqdm(iterable, disable=not (enabled and interactive()), **kwargs)


def quiet_transformers() -> None:
    """Silence transformers' own bars ("Loading weights", "Writing model shards") outside a terminal."""
    if not interactive():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
