"""Batch prediction with a saved model: predict posts, write canonical JSONL to a file or stdout.

Posts given as raw text (``kecpm.data.inputs``) are written with their ``text`` and each entity's
character offsets ``char_start``/``char_end`` into it; entity ``text`` is then the text as written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kecpm.data.jsonl import dumps_line, write_jsonl
from kecpm.data.schema import Post
from kecpm.data.tokenize import Token
from kecpm.model.model import PromptModel

Texts = Mapping[str, tuple[str, list[Token]]]


def _with_chars(entity: dict[str, Any], text: str, tokens: Sequence[Token]) -> dict[str, Any]:
    start, end = tokens[entity["start"]].start, tokens[entity["end"] - 1].end
    return {**entity, "text": text[start:end], "char_start": start, "char_end": end}


def output_record(post: Post, texts: Texts) -> dict[str, Any]:
    """``post`` as a canonical JSON record; for a post read from raw text, with the text and the
    character offsets of every entity (and triple argument)."""
    rec = post.to_dict()
    if post.id not in texts:
        return rec
    text, tokens = texts[post.id]
    rec["text"] = text
    rec["entities"] = [_with_chars(e, text, tokens) for e in rec["entities"]]
    rec["triples"] = [{**t, "head": _with_chars(t["head"], text, tokens), "tail": _with_chars(t["tail"], text, tokens)}
                      for t in rec["triples"]]
    return rec


def write_predictions(preds: Sequence[Post], out: str | Path | None, texts: Texts | None = None,
                      stream: IO[str] | None = None) -> None:
    """Write predictions as JSON Lines to ``out`` atomically, or to ``stream`` (stdout) when ``out`` is None."""
    records = [output_record(p, texts or {}) for p in preds]
    if out is not None:
        write_jsonl(out, records)
        return
    stream = stream or sys.stdout
    for r in records:
        stream.write(dumps_line(r) + "\n")
    stream.flush()


@dataclass
class PredictReport:
    n_posts: int
    seconds: float

    @property
    def posts_per_second(self) -> float:
        return self.n_posts / self.seconds if self.seconds else 0.0


def predict_posts(model: PromptModel, posts: list[Post], batch_size: int = 32) -> tuple[list[Post], PredictReport]:
    """Predictions for ``posts`` (entities and triples with scores) and their timing."""
    t0 = time.perf_counter()
    preds = model.predict(posts, batch_size)
    return preds, PredictReport(len(posts), time.perf_counter() - t0)


def unreadable_images(model: PromptModel) -> dict[str, str]:
    """Post id -> why its image was not used (the no-image vector instead), for the summary."""
    visual = model.encoder.visual
    return dict(visual.unreadable) if visual is not None else {}
