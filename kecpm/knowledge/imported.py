"""``kecpm import-knowledge``: knowledge already in the data (the paper's ChatGPT knowledge), no LLM.

Reads every ``seed_*/*_ofa_knowledge.json`` of the fs-jmere folder (or any JMERE files with a
``knowledge`` field), matches it to the posts of a split folder by post id (image id + tokens) and
writes the same ``knowledge.jsonl`` records as ``gen-knowledge`` (backend ``import``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kecpm.data.errors import BadLines
from kecpm.data.folders import KNOWLEDGE_FILE
from kecpm.data.jmere import read_jmere
from kecpm.data.jsonl import jsonl_text, write_files
from kecpm.data.schema import Post
from kecpm.knowledge.inputs import split_posts
from kecpm.knowledge.store import final_sentences
from kecpm.paths import default_data_dir

log = logging.getLogger(__name__)
PATTERN = "seed_*/*_ofa_knowledge.json"


def default_source() -> Path:
    """``<data>/fs-jmere``: the paper's splits, whose ``*_ofa_knowledge.json`` files carry knowledge."""
    return default_data_dir() / "fs-jmere"


def knowledge_files(source: str | Path) -> list[Path]:
    """The knowledge files under ``source`` (a folder like ``fs-jmere``) or ``source`` itself."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.exists():
        raise FileNotFoundError(f"{source}: knowledge source not found")
    files = sorted(source.glob(PATTERN)) or sorted(source.glob("*_ofa_knowledge.json"))
    if not files:
        raise FileNotFoundError(f"{source}: no {PATTERN} files")
    return files


@dataclass
class ImportedKnowledge:
    """Post id -> sentences, from JMERE files that carry a ``knowledge`` field."""

    source: Path
    mapping: dict[str, list[str]] = field(default_factory=dict)
    skipped_lines: int = 0

    @classmethod
    def load(cls, source: str | Path) -> ImportedKnowledge:
        bad = BadLines(skip=True)
        mapping: dict[str, list[str]] = {}
        for path in knowledge_files(source):
            for post in read_jmere(path, bad=bad):
                if post.knowledge is not None and post.id not in mapping:
                    mapping[post.id] = [" ".join(k.split()) for k in post.knowledge if k.strip()]
        if bad.count:
            log.warning("import: skipped %d unreadable record(s), first: %s", bad.count, bad.errors[0])
        return cls(Path(source), mapping, bad.count)

    def lookup(self, posts: Iterable[Post]) -> tuple[dict[str, list[str]], list[str]]:
        """``(found, missing_ids)``: knowledge for each post found, and the ids of those without."""
        found, missing = {}, []
        for p in posts:
            if p.id in self.mapping:
                found[p.id] = list(self.mapping[p.id])
            else:
                missing.append(p.id)
        return found, missing


@dataclass
class ImportSummary:
    """Figures of one import: posts written and posts for which the source had no knowledge."""

    posts: int
    no_knowledge: int
    output: Path
    source: Path


def import_knowledge(split_dir: str | Path, source: str | Path | None = None,
                     output: str | Path | None = None, known: ImportedKnowledge | None = None) -> ImportSummary:
    """Write ``knowledge.jsonl`` (default: in ``split_dir``) for every post of the split folder from
    the knowledge in ``source`` (default ``default_source()``), atomically, with
    ``knowledge.config.json`` (``{"import": {"source": ...}}``) beside it. ``known``: the source
    already loaded (``ImportedKnowledge.load``), so several split folders read it once."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: not a folder")
    source = Path(source) if source else default_source()
    output = Path(output) if output else split_dir / KNOWLEDGE_FILE
    posts = split_posts(split_dir)
    found, missing = (known or ImportedKnowledge.load(source)).lookup(posts)
    if missing:
        log.warning("import: %d of %d posts found no knowledge in %s", len(missing), len(posts), source)
    records = [{"id": p.id, "knowledge": found.get(p.id, []), "reflected": None, "model": "import:" + source.name,
                "backend": "import", "template": None, "reflect_template": None, "invalid": False} for p in posts]
    config = json.dumps({"import": {"source": str(source.resolve())}}, indent=2) + "\n"
    write_files({output: jsonl_text(records), output.with_name(output.stem + ".config.json"): config})  # both or neither
    return ImportSummary(len(posts), sum(not final_sentences(r) for r in records), output, source)
