"""Default locations: data (``KECPM_DATA``), cache (``KECPM_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``$KECPM_DATA`` if set, else ``../shared/data`` relative to the working directory."""
    return Path(os.environ.get("KECPM_DATA") or "../shared/data")


def default_cache_dir() -> Path:
    """``$KECPM_CACHE`` if set, else ``~/.cache/kecpm``."""
    return Path(os.environ.get("KECPM_CACHE") or Path.home() / ".cache" / "kecpm")
