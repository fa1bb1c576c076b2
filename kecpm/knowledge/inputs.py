"""The posts stage 1 works on: every post of a split folder (train, val, test) or of given files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from kecpm.data.errors import DataError
from kecpm.data.inputs import read_inputs
from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import Post

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def split_posts(split_dir: Path | None, inputs: Sequence[Path] = ()) -> list[Post]:
    """The posts of ``inputs`` (``kecpm.data.inputs``: JSONL with text or tokens, plain text, ``-``),
    else of the split folder's train/val/test.jsonl; duplicates by id kept once."""
    files = list(inputs) or [split_dir / f"{s}.jsonl" for s in SPLITS if split_dir and (split_dir / f"{s}.jsonl").exists()]
    if not files:
        raise FileNotFoundError(f"{split_dir}: no train/val/test.jsonl (give a split folder or --input files)")
    posts: dict[str, Post] = {}
    for f in files:
        if inputs:  # a file given with --input: any input `predict` reads (text or tokens, plain text, -)
            read = read_inputs(f).posts  # and it must hold posts
        else:
            if not Path(f).is_file():
                raise FileNotFoundError(f"{f}: file not found")
            read = read_jsonl(f)
            if not read:
                log.warning("%s: no posts (an empty split)", f)
        for p in read:
            posts.setdefault(p.id, p)
    if not posts:
        raise DataError(f"no posts in {', '.join(f.name for f in files)}; build the splits again", split_dir)
    return list(posts.values())


def load_inputs(split_dir: Path | None, inputs: Sequence[Path], demos: Path | None) -> tuple[list[Post], list[Post]]:
    """Posts to annotate (all splits of the folder, or the given files) and the demonstration pool."""
    posts = split_posts(split_dir, inputs)
    demo_file = demos or (split_dir / "train.jsonl" if split_dir else None)
    if demos is None and demo_file is not None and not demo_file.exists():
        log.warning("%s: no train.jsonl, so no demonstrations", split_dir)
        demo_file = None
    pool = read_jsonl(demo_file) if demo_file else []
    return posts, pool


def check_posts(posts: Sequence[Post]) -> None:
    """Posts must have text; duplicates by id are an error."""
    seen: set[str] = set()
    for p in posts:
        if not p.tokens or not any(t.strip() for t in p.tokens):
            raise DataError(f"post {p.id}: empty text, cannot ask for knowledge about it")
        if p.id in seen:
            raise DataError(f"post {p.id}: appears twice in the input")
        seen.add(p.id)
