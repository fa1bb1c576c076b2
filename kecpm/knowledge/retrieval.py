"""Pick demonstrations by similarity: embed text (+ caption) and take the top-k training posts."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from kecpm.data.schema import Post
from kecpm.packaged import default_encoder

log = logging.getLogger(__name__)


def post_text(post: Post) -> str:
    return f"{post.text} {post.caption}" if post.caption else post.text


class VectorStore(Protocol):
    def get_vectors(self, keys: list[str]) -> dict[str, bytes]: ...

    def put_vectors(self, items: list[tuple[str, bytes]]) -> None: ...


def embed_cached(texts: Sequence[str], model: str | None = None, store: VectorStore | None = None) -> np.ndarray:
    """``embed`` with vectors kept in ``store`` by sha256 of (model, text): a rerun loads no model."""
    if store is None:
        return embed(texts, model)
    name = model or "packaged:all-MiniLM-L6-v2"
    keys = [hashlib.sha256(f"{name}\n{t}".encode()).hexdigest() for t in texts]
    found = store.get_vectors(list(dict.fromkeys(keys)))
    todo = list(dict.fromkeys(k for k in keys if k not in found))
    if todo:
        text_of = dict(zip(keys, texts, strict=True))
        vecs = embed([text_of[k] for k in todo], model)
        new = [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo, vecs, strict=True)]
        store.put_vectors(new)
        found.update(new)
    return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])


def embed(texts: Sequence[str], model: str | None = None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings (rows) with sentence-transformers on the CPU."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model or default_encoder(), device="cpu")
    vecs = st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vecs, dtype=np.float32)


def top_k_demos(
    posts: Sequence[Post], pool: Sequence[Post], k: int = 2, model: str | None = None,
    store: VectorStore | None = None,
) -> list[list[Post]]:
    """For each post, the ``k`` most similar posts of ``pool`` (never the post itself), best first."""
    if k <= 0 or not pool or not posts:
        return [[] for _ in posts]
    vecs = embed_cached([post_text(p) for p in [*posts, *pool]], model, store)
    q, d = vecs[: len(posts)], vecs[len(posts) :]
    sims = q @ d.T
    pool_ids = np.array([p.id for p in pool])
    out = []
    for i, p in enumerate(posts):
        row = np.where(pool_ids == p.id, -np.inf, sims[i])
        order = np.argsort(-row, kind="stable")
        out.append([pool[j] for j in order[:k] if np.isfinite(row[j])])
    return out
