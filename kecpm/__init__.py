"""kecpm: few-shot joint multimodal entity-relation extraction with knowledge-enhanced prompts.

``from kecpm import Extractor`` is the Python API (``kecpm.extractor``); it is imported on first use,
so ``kecpm --help`` loads no torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Extractor", "Prediction", "Relation", "Span", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Extractor", "Prediction", "Relation", "Span"):
        from kecpm import extractor

        return getattr(extractor, name)
    raise AttributeError(f"module 'kecpm' has no attribute {name!r}")
