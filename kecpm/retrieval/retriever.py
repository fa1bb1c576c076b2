"""Top-k passages for posts, never the post itself; two queries per post (MoRe's text and image sides).

A post's *text* query is its text. Its *visual* query stands in for its image: the caption when the
post has one. Retrieval by image features needs an image embedder in the passages' space (CLIP and
the like), which this offline setup does not have; a post with an image file and no caption is
therefore queried with its text (logged once). Results are cached in memory per (post id, post
text, query), so every epoch after the first retrieves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from kecpm.data.overlap import letters_and_digits
from kecpm.data.schema import Post
from kecpm.retrieval.corpus import Passage
from kecpm.retrieval.index import Embedder, PassageIndex, load_index

log = logging.getLogger(__name__)
KINDS = ("text", "visual")
EXTRA = 5  # passages retrieved beyond k, to make up for those filtered out


def query_of(post: Post, kind: str, use_caption: bool = True) -> str:
    """The query text of ``post`` for ``kind``: its text, or (visual) its caption when it has one."""
    if kind == "visual" and use_caption and post.caption and post.caption.strip():
        return post.caption
    return post.text


class Retriever:
    """The ``k`` passages of a corpus nearest to each query (see the module docstring)."""

    def __init__(self, corpus: str | Path, k: int, embedder: str = "", sha256: str = "",
                 cache_dir: str | Path | None = None) -> None:
        self.corpus = corpus
        self.k = k
        self.sha256 = sha256
        self.cache_dir = cache_dir
        self.embedder = Embedder(embedder)
        self._index: PassageIndex | None = None
        self._norm: dict[str, str] = {}
        self._cache: dict[tuple[str, str, str], list[str]] = {}
        self._noted = False

    @property
    def index(self) -> PassageIndex:
        if self._index is None:
            self._index = load_index(self.corpus, self.embedder, self.sha256, self.cache_dir)
        return self._index

    def _norm_of(self, text: str) -> str:
        if text not in self._norm:
            self._norm[text] = letters_and_digits(text)
        return self._norm[text]

    def _keep(self, hits: list[tuple[float, Passage]], post: Post) -> list[str]:
        own, seen, out = letters_and_digits(post.text), set(), []
        for _, p in hits:
            norm = self._norm_of(p.text)
            if (p.id and p.id == post.id) or norm == own or norm in seen:
                continue
            seen.add(norm)
            out.append(p.text)
            if len(out) == self.k:
                break
        return out

    def search(self, queries: Sequence[str], posts: Sequence[Post]) -> list[list[str]]:
        """For each (query, post) the top-k passage texts, best first, skipping the post's own passages
        (same id, or the same text up to case and spaces) and repeated texts."""
        index = self.index
        out: list[list[str]] = [[] for _ in queries]
        todo = list(range(len(queries)))
        vectors = self.embedder.encode([queries[i] for i in todo]) if todo else None
        n = self.k + EXTRA
        while todo and vectors is not None:
            hits = index.search(vectors, n)
            for i, row in zip(todo, hits, strict=True):
                out[i] = self._keep(row, posts[i])
            short = [j for j, i in enumerate(todo) if len(out[i]) < self.k]
            if not short or n >= len(index.passages):
                break
            todo, vectors, n = [todo[j] for j in short], vectors[short], min(4 * n, len(index.passages))
        return out

    def for_posts(self, posts: Sequence[Post], kind: str, use_caption: bool = True) -> list[list[str]]:
        """The passages of each post for ``kind`` ("text" or "visual"), cached in memory."""
        if kind not in KINDS:
            raise ValueError(f"retrieval kind {kind!r} is not one of {', '.join(KINDS)}")
        queries = [query_of(p, kind, use_caption) for p in posts]
        if kind == "visual" and not self._noted:
            imaged = [p.id for p, q in zip(posts, queries, strict=True) if p.image_path and q == p.text]
            if imaged:
                self._noted = True
                log.info("retrieval: post %s has an image file but no caption; retrieval by image features needs "
                         "an image embedder this offline setup lacks, so such posts are queried with their text",
                         imaged[0])
        keys = [(p.id, p.text, q) for p, q in zip(posts, queries, strict=True)]
        new = [key for key in dict.fromkeys(keys) if key not in self._cache]
        if new:
            post_of = dict(zip(keys, posts, strict=True))
            self._cache.update(zip(new, self.search([key[2] for key in new], [post_of[key] for key in new]),
                                   strict=True))
        return [self._cache[key] for key in keys]
