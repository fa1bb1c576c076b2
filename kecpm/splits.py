"""Reproducible few-shot splits of MNRE v2 (JMERE) and of the Twitter MNER sets, sampled over whole posts.

- ``K``-shot mode: train holds at least ``K`` triples of every relation present in MNRE train,
  chosen by a seeded greedy sampler (rarest relation first; a post brings all its triples). A
  relation with fewer than ``K`` triples in the source is taken whole and reported. Val is built the
  same way from MNRE val; test is the full JMERE test set (MNRE test grouped into 460 posts).
- ``fraction`` mode: the same sampler with a per-relation target of ``max(1, round(f * n))``
  triples, like the paper's published splits (about 7% of train).

Everything is deterministic for a seed: candidates are ordered by post id before a seeded shuffle,
relations are visited by (source count, name), and the chosen posts are written in source order.
The MNER sets (``twitter2015``, ``twitter2017``: CoNLL files) are sampled the same way over entity
mentions per type instead of triples per relation; their test split is the official test file.
See ``docs/splits.md``.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from kecpm.config import Config, ConfigError, option
from kecpm.data.conll import read_conll
from kecpm.data.errors import BadLines
from kecpm.data.jsonl import dumps_line
from kecpm.data.mnre import MNRE_FILES, read_mnre_split
from kecpm.data.schema import Post, relation_counts
from kecpm.hashing import sha256_file

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_SEEDS: tuple[int, ...] = (17, 67, 97)
CONLL_DATASETS: tuple[str, ...] = ("twitter2015", "twitter2017")
CONLL_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}
LabelCounter = Callable[[Iterable[Post]], Counter[str]]


def entity_type_counts(posts: Iterable[Post]) -> Counter[str]:
    """Number of entity mentions per type (the labels of the MNER splits)."""
    return Counter(e.type for p in posts for e in p.entities)


@dataclass(frozen=True)
class Labels:
    """What a data set's splits are balanced over: the counting function, its unit and the label's name."""

    count: LabelCounter
    unit: str
    name: str


RELATIONS = Labels(relation_counts, "triples", "relation")
ENTITY_TYPES = Labels(entity_type_counts, "mentions", "entity type")


def labels_of(dataset: str) -> Labels:
    """Entity types for the CoNLL MNER sets, relations for anything else (MNRE)."""
    return ENTITY_TYPES if dataset in CONLL_DATASETS else RELATIONS


@dataclass
class SplitConfig(Config):
    """How one seed folder of few-shot splits is built (saved as ``config.json`` beside it)."""

    data: str = option("../shared/data/mnre", "MNRE v2 folder with mnre_train.txt, 'mnre_val .txt', mnre_test.txt "
                                              "(twitter2015/2017: train.txt, valid.txt, test.txt).")
    out: str = option("fewshot_splits", "Root folder of the splits.")
    dataset: str = option("mnre", "Data set name, the first folder under `out`: twitter2015/2017 read CoNLL "
                                  "files and balance entity types; any other name reads MNRE.")
    k: int = option(5, "At least this many triples of every relation (MNER: mentions of every entity type) "
                       "in train and val (K-shot mode).")
    fraction: float | None = option(None, "If set, sample this share of each relation's triples instead of K.")
    seed: int = option(17, "Sampling seed.")
    skip_bad: bool = option(False, "Skip malformed source lines (and count them) instead of stopping.")

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ConfigError(f"fraction must be in (0, 1], got {self.fraction}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.dataset):
            raise ConfigError(f"dataset must be a plain folder name (letters, digits, _ . -), got {self.dataset!r}")

    @property
    def mode(self) -> str:
        """Folder name of the sampling mode: ``K5`` or ``F0.07``."""
        return f"F{self.fraction:g}" if self.fraction is not None else f"K{self.k}"

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.dataset / self.mode / f"seed{self.seed}"

    def sampling(self) -> dict[str, object]:
        """The options that decide the split contents (paths left out), as stored in the manifest."""
        return {"dataset": self.dataset, "k": None if self.fraction is not None else self.k,
                "fraction": self.fraction, "seed": self.seed}


def kshot_targets(counts: Mapping[str, int], k: int) -> dict[str, int]:
    """``k`` of every label present (the sampler takes all of a label with fewer)."""
    return {r: k for r, n in counts.items() if n > 0}


def fraction_targets(counts: Mapping[str, int], fraction: float) -> dict[str, int]:
    """``max(1, round(fraction * n))`` triples of every relation present (halves round up)."""
    return {r: max(1, math.floor(fraction * n + 0.5)) for r, n in counts.items() if n > 0}


@dataclass
class Sample:
    """Chosen posts (in source order) and the relations that could not reach their target."""

    posts: list[Post]
    targets: dict[str, int]
    short: dict[str, int] = field(default_factory=dict)  # relation -> target asked for, source too small


def greedy_sample(posts: list[Post], targets: Mapping[str, int], seed: int,
                  count: LabelCounter = relation_counts) -> Sample:
    """Pick whole posts until each label (by ``count``: relations, or entity types) reaches its target.

    Labels are visited rarest first (by source count, then name); for each, posts holding it are
    taken in a seeded random order (independent of the input order) until its target is met.
    """
    source = count(posts)
    rels_of = [count([p]) for p in posts]
    order = sorted(range(len(posts)), key=lambda i: (posts[i].id, i))
    random.Random(seed).shuffle(order)
    have: Counter[str] = Counter()
    chosen: set[int] = set()
    for rel in sorted(targets, key=lambda r: (source[r], r)):
        for i in order:
            if have[rel] >= targets[rel]:
                break
            if i not in chosen and rels_of[i][rel]:
                chosen.add(i)
                have.update(rels_of[i])
    short = {r: t for r, t in sorted(targets.items()) if source[r] < t}
    kept = {r: min(t, source[r]) for r, t in targets.items()}
    return Sample([posts[i] for i in sorted(chosen)], dict(sorted(kept.items())), short)


def sample_posts(posts: list[Post], cfg: SplitConfig) -> Sample:
    """Sample by ``cfg``: K-shot, or per-label fraction when ``cfg.fraction`` is set."""
    count = labels_of(cfg.dataset).count
    counts = count(posts)
    if cfg.fraction is not None:
        return greedy_sample(posts, fraction_targets(counts, cfg.fraction), cfg.seed, count)
    return greedy_sample(posts, kshot_targets(counts, cfg.k), cfg.seed, count)


def total_variation(p: Mapping[str, int], q: Mapping[str, int]) -> float:
    """Total variation distance between two count distributions: half the L1 distance of the shares."""
    sp, sq = sum(p.values()), sum(q.values())
    keys = sorted(set(p) | set(q))
    return 0.5 * sum(abs((p.get(k, 0) / sp if sp else 0.0) - (q.get(k, 0) / sq if sq else 0.0)) for k in keys)


def split_bytes(posts: Iterable[Post]) -> bytes:
    """The exact bytes of a canonical JSONL split file."""
    return "".join(dumps_line(p.to_dict()) + "\n" for p in posts).encode("utf-8")


@dataclass
class Source:
    """One source file (MNRE or CoNLL) read into posts, with its sha256 and the number of skipped lines."""

    name: str
    file: str
    sha256: str
    posts: list[Post]
    skipped: int = 0


def load_sources(data: str | Path, skip_bad: bool = False, dataset: str = "mnre") -> dict[str, Source]:
    """Read train, val and test from ``data`` (read once, shared by every seed): the CoNLL files
    ``train.txt``, ``valid.txt``, ``test.txt`` for twitter2015/twitter2017, else MNRE's."""
    conll = dataset in CONLL_DATASETS
    sources = {}
    for name in SPLITS:
        bad = BadLines(skip=skip_bad)
        file = (CONLL_FILES if conll else MNRE_FILES)[name]
        path = Path(data) / file
        if conll and not path.exists():
            raise FileNotFoundError(f"{path}: {dataset} CoNLL file not found (is the data folder right?)")
        posts = read_conll(path, bad) if conll else read_mnre_split(data, name, bad)
        sources[name] = Source(name, file, sha256_file(path), posts, bad.count)
    return sources


@dataclass
class BuiltSplit:
    """One split in memory: its posts, the source it came from, what fell short of its target."""

    name: str
    posts: list[Post]
    source: Source
    short: dict[str, int] = field(default_factory=dict)
    labels: Labels = RELATIONS

    @cached_property
    def data(self) -> bytes:
        return split_bytes(self.posts)

    @property
    def counts(self) -> Counter[str]:
        return self.labels.count(self.posts)

    @property
    def source_counts(self) -> Counter[str]:
        return self.labels.count(self.source.posts)

    @property
    def distance(self) -> float:
        """Total variation distance of the label distribution from the source's."""
        return total_variation(self.counts, self.source_counts)


def build_splits(cfg: SplitConfig, sources: Mapping[str, Source] | None = None) -> dict[str, BuiltSplit]:
    """Build train and val (sampled) and test (whole) in memory from ``sources`` or ``cfg.data``."""
    sources = sources or load_sources(cfg.data, cfg.skip_bad, cfg.dataset)
    labels = labels_of(cfg.dataset)
    built = {}
    for name in SPLITS:
        src = sources[name]
        if name == "test":
            built[name] = BuiltSplit(name, list(src.posts), src, labels=labels)
        else:
            sample = sample_posts(src.posts, cfg)
            built[name] = BuiltSplit(name, sample.posts, src, sample.short, labels)
    return built
