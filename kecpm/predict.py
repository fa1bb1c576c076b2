"""Batch prediction with a saved model: read posts leniently, predict, write canonical JSONL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kecpm.data.errors import BadLines, DataError
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.readers import detect_format, read_posts
from kecpm.data.schema import Post, post_id, validate_post
from kecpm.model.model import PromptModel


def _post_from_record(rec: dict[str, Any]) -> Post:
    if "tokens" not in rec:
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError('a post needs "tokens" (list of words) or "text" (a string)')
        rec = {**rec, "tokens": text.split()}
        rec.setdefault("id", post_id(str(rec.get("img_id") or ""), rec["tokens"]))
    post = Post.from_dict(rec)
    validate_post(post, relations=None)
    return post


def read_inputs(path: str | Path, bad: BadLines) -> list[Post]:
    """Posts from JSONL lines with ``tokens`` or ``text`` (optional image_path, caption, knowledge),
    from any file ``read_posts`` reads, or from a split folder's test file. Bad records go to ``bad``."""
    path = Path(path)
    if path.is_dir():  # a split folder: its test file
        from kecpm.data.folders import part_file

        found = part_file(path, "test")
        if found is None:
            raise FileNotFoundError(f"{path}: no test file in this split folder")
        path = found
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.suffix != ".jsonl" or detect_format(path) in ("mnre", "conll"):
        return read_posts(path, bad=bad)
    return read_jsonl(path, bad, parse=_post_from_record)


@dataclass
class PredictReport:
    n_posts: int
    seconds: float

    @property
    def posts_per_second(self) -> float:
        return self.n_posts / self.seconds if self.seconds else 0.0


def predict_file(model: PromptModel, posts: list[Post], out: str | Path,
                 batch_size: int = 32) -> tuple[list[Post], PredictReport]:
    """Predict ``posts`` and write them to ``out`` atomically (entities and triples with scores)."""
    t0 = time.perf_counter()
    preds = model.predict(posts, batch_size)
    secs = time.perf_counter() - t0
    write_jsonl(out, preds)
    return preds, PredictReport(len(posts), secs)
