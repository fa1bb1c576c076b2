"""The ``import`` backend: knowledge already in the data (the paper's ChatGPT knowledge), no LLM.

Reads every ``seed_*/*_ofa_knowledge.json`` of the fs-jmere folder (or any JMERE files with a
``knowledge`` field) and matches it to our posts by post id (image id + tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kecpm.data.errors import BadLines
from kecpm.data.jmere import read_jmere
from kecpm.data.schema import Post

log = logging.getLogger(__name__)
PATTERN = "seed_*/*_ofa_knowledge.json"


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
