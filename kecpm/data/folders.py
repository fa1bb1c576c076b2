"""Finding split folders: ``seed<s>/`` (ours) or ``seed_<s>/`` (the paper's) with their train/val/test
files, or a data set's own folder holding them directly (e.g. Twitter-2017's train/valid/test.txt:
one "split" with seed 0, the full data)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kecpm.data.images import resolve_images
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post

PARTS = ("train", "val", "test")
KNOWLEDGE_FILE = "knowledge.jsonl"
# File names tried per part, in order: our canonical splits, the paper's files with knowledge, plain JSON,
# CoNLL text (Twitter); "valid" is tried where "val" is not found.
# MNRE v2's own names last ("mnre_val .txt" has a space): its folder is a full-data split as it is.
CANDIDATES = ("{}.jsonl", "{}_ofa_knowledge.json", "{}.json", "{}.txt", "mnre_{}.txt", "mnre_{} .txt")
ALIASES = {"val": ("val", "valid")}
FULL_DATA_SEED = 0


@dataclass
class SeedSplit:
    """The train/val/test files of one sampling seed, and a knowledge file found beside them."""

    seed: int
    dir: Path
    files: dict[str, Path]
    knowledge: Path | None
    image_dir: Path | None = None  # where the posts' img_id files are (``kecpm.data.images``)

    def read(self, part: str) -> list[Post]:
        posts = read_posts(self.files[part])
        return resolve_images(posts, self.image_dir) if self.image_dir is not None else posts


def part_file(d: Path, part: str) -> Path | None:
    """The file of ``part`` (train, val or test) in split folder ``d``, or None."""
    names = [c.format(n) for n in ALIASES.get(part, (part,)) for c in CANDIDATES]
    return next((d / n for n in names if (d / n).exists()), None)


def _split(seed: int, d: Path, root: Path) -> SeedSplit:
    files = {p: part_file(d, p) for p in PARTS}
    absent = [p for p, f in files.items() if f is None]
    if absent:
        raise FileNotFoundError(f"{d}: no {'/'.join(absent)} file (tried {', '.join(CANDIDATES)})")
    know = next((k for k in (d / KNOWLEDGE_FILE, root / KNOWLEDGE_FILE, root.parent / KNOWLEDGE_FILE)
                 if k.exists()), None)
    return SeedSplit(seed, d, files, know)  # type: ignore[arg-type]


def find_seed_splits(root: str | Path, seeds: list[int] | None = None) -> list[SeedSplit]:
    """Seed folders ``seed<s>`` or ``seed_<s>`` under ``root`` with train, val and test files; a folder
    without seed folders but with train/val/test files of its own is one split, seed 0 (full data)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: split folder not found")
    found: dict[int, Path] = {}
    for d in sorted(root.iterdir()):
        m = re.fullmatch(r"seed_?(\d+)", d.name)
        if m and d.is_dir():
            found[int(m.group(1))] = d
    if not found:
        if all(part_file(root, p) for p in PARTS) and seeds in (None, [FULL_DATA_SEED]):
            return [_split(FULL_DATA_SEED, root, root)]
        raise FileNotFoundError(f"{root}: no seed<s>/ or seed_<s>/ folders, nor train/val/test files")
    wanted = seeds or sorted(found)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise FileNotFoundError(f"{root}: no folder for seed(s) {', '.join(map(str, missing))} "
                                f"(found {', '.join(map(str, sorted(found)))})")
    return [_split(s, found[s], root) for s in wanted]
