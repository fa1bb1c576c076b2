"""A FAISS inner-product index of a passage corpus, built once and cached by content.

Passages are embedded with sentence-transformers (the packaged all-MiniLM-L6-v2 unless another model
is named), L2-normalised, so inner product is cosine similarity (``faiss.IndexFlatIP``: exact search).
The cache folder is ``<cache>/retrieval/<key>/`` with ``index.faiss``, ``passages.jsonl`` and
``meta.json``, where the key is the sha256 of the corpus file's sha256 and the embedder's name: the
same bytes give the same index wherever the file lives. The folder is written under a temporary name
and renamed into place, so a killed build leaves no half-written index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kecpm.config import ConfigError
from kecpm.data.errors import DISK_ERRNOS, WriteError
from kecpm.hashing import sha256_bytes, sha256_file
from kecpm.paths import default_cache_dir
from kecpm.retrieval.corpus import Passage, read_corpus

log = logging.getLogger(__name__)
logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is not news
PACKAGED = "packaged:all-MiniLM-L6-v2"
FORMAT = 1  # bump when the cached files change meaning


class Embedder:
    """A sentence-transformers model, loaded on first use, giving L2-normalised float32 rows."""

    def __init__(self, model: str = "") -> None:
        self.model = model
        self.name = model or PACKAGED
        self._st: Any = None

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            from kecpm.packaged import default_encoder, model_folder

            self._st = SentenceTransformer(str(model_folder(self.model)) if self.model else default_encoder(),
                                           device="cpu")
        vecs = self._st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
        return np.ascontiguousarray(vecs, dtype=np.float32)


@dataclass
class PassageIndex:
    """The FAISS index, its passages (row i = passage i) and the cache folder it lives in."""

    index: Any
    passages: list[Passage]
    folder: Path

    @classmethod
    def read(cls, folder: Path) -> PassageIndex:
        import faiss

        with open(folder / "passages.jsonl", encoding="utf-8") as fh:
            passages = [Passage(**json.loads(line)) for line in fh if line.strip()]
        return cls(faiss.read_index(str(folder / "index.faiss")), passages, folder)

    def search(self, vectors: np.ndarray, n: int) -> list[list[tuple[float, Passage]]]:
        """The ``n`` nearest passages of each query row, best first, with their similarity."""
        n = min(n, len(self.passages))
        scores, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), n)
        return [[(float(s), self.passages[r]) for s, r in zip(srow, rrow, strict=True) if r >= 0]
                for srow, rrow in zip(scores, rows, strict=True)]


def index_key(corpus_sha256: str, embedder_name: str) -> str:
    """The cache key: sha256 of the corpus bytes' sha256, the embedder's name and the cache format."""
    payload = {"corpus": corpus_sha256, "embedder": embedder_name, "format": FORMAT}
    return sha256_bytes(json.dumps(payload, sort_keys=True).encode("utf-8"))


def cache_root(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "retrieval"


def load_index(corpus: str | Path, embedder: Embedder, sha256: str = "",
               cache_dir: str | Path | None = None) -> PassageIndex:
    """The index of ``corpus`` for ``embedder``: read from the cache when built before, else built once
    and cached. ``sha256`` (recorded by a trained model) looks the cache up without the corpus, which is
    needed only when the cache lacks the index; its bytes must then still have that hash."""
    corpus = Path(corpus)
    if not sha256:
        if not corpus.is_file():
            raise FileNotFoundError(f"{corpus}: retrieval corpus not found")
        sha256 = sha256_file(corpus)
    folder = cache_root(cache_dir) / index_key(sha256, embedder.name)
    if (folder / "meta.json").exists():
        found = PassageIndex.read(folder)
        log.info("retrieval: index of %d passages (%s) from cache %s", len(found.passages), corpus.name, folder)
        return found
    if not corpus.is_file():
        raise FileNotFoundError(f"{corpus}: retrieval corpus not found, and its index (sha256 {sha256[:12]}) is "
                                f"not in the cache {folder.parent}; the model was trained with this corpus: put "
                                "the file back (or set model.retrieval to where it is now)")
    actual = sha256_file(corpus)
    if actual != sha256:
        raise ConfigError(f"{corpus}: the retrieval corpus changed since the model was trained (sha256 "
                          f"{actual[:12]}, recorded {sha256[:12]}) and the old index is not in the cache; "
                          "restore the file the model was trained with")
    return _build(corpus, embedder, sha256, folder)


def _build(corpus: Path, embedder: Embedder, sha256: str, folder: Path) -> PassageIndex:
    import faiss

    passages = read_corpus(corpus)
    t0 = time.perf_counter()
    vectors = embedder.encode([p.text for p in passages])
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    seconds = time.perf_counter() - t0
    meta = {"corpus": str(corpus), "corpus_sha256": sha256, "embedder": embedder.name, "passages": len(passages),
            "dim": int(vectors.shape[1]), "seconds": round(seconds, 2), "format": FORMAT}
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name[:16]}.", dir=folder.parent))
        try:
            faiss.write_index(index, str(tmp / "index.faiss"))
            with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps({"text": p.text, "id": p.id}, ensure_ascii=False) + "\n" for p in passages)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            try:
                os.rename(tmp, folder)
            except OSError:
                if not (folder / "meta.json").exists():  # not another process that finished first
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        if e.errno in DISK_ERRNOS:
            raise WriteError(folder, e) from e
        raise
    log.info("retrieval: index of %d passages (%s) built in %.1f s, cached in %s", len(passages), corpus.name,
             seconds, folder)
    return PassageIndex(index, passages, folder)
