"""Fixtures for stage 1: a tiny split folder, a session-wide folder for materialised models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from knowledge_helpers import write_split


@pytest.fixture
def tiny_split(tmp_path: Path) -> Path:
    """A split folder with 6 train, 3 val and 3 test posts."""
    return write_split(tmp_path / "split")


@pytest.fixture(scope="session", autouse=True)
def _session_models(tmp_path_factory: pytest.TempPathFactory):
    """Materialise models once per session (``KECPM_MODELS``), not once per test cache."""
    old = os.environ.get("KECPM_MODELS")
    os.environ["KECPM_MODELS"] = old or str(tmp_path_factory.mktemp("kecpm-models"))
    yield Path(os.environ["KECPM_MODELS"])
    if old is None:
        os.environ.pop("KECPM_MODELS", None)
