"""Model names: a local path, or a Hugging Face hub id (offline only when the environment says so)."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest

from kecpm.knowledge.smollm import resolve_model
from kecpm.packaged import looks_like_hub_id, model_folder


def test_local_paths_are_never_sent_to_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> str:
        raise AssertionError("asked the hub")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom)
    assert model_folder(tmp_path) == tmp_path
    assert model_folder(tmp_path / "missing") == tmp_path / "missing"  # its reader reports it
    assert [looks_like_hub_id(n) for n in ("Qwen/Qwen2.5-7B-Instruct", "bert-base-cased", "./m", "runs/a/model",
                                           "~/m", "../m")] == [True, True, False, False, False, False]


def test_hub_ids_are_fetched_without_local_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(repo_id: str, **kwargs: object) -> str:
        calls.append((repo_id, kwargs))
        snap = tmp_path / "snapshots" / "abc123"
        snap.mkdir(parents=True, exist_ok=True)
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    assert model_folder("someone/kecpm-model") == tmp_path / "snapshots" / "abc123"
    ref = resolve_model("Qwen/Qwen2.5-7B-Instruct", revision="main")
    assert (ref.model_id, ref.weights) == ("Qwen/Qwen2.5-7B-Instruct", "revision:abc123")
    assert calls == [("someone/kecpm-model", {}), ("Qwen/Qwen2.5-7B-Instruct", {"revision": "main"})]


def test_offline_and_not_cached_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"kecpm-test/no-such-model: .*HF_HUB_OFFLINE is set"):
        model_folder("kecpm-test/no-such-model")
