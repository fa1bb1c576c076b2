"""Twitter-2015/2017 CoNLL files (entities only): ``IMGID:<id>`` then ``token<TAB>BIO`` lines."""

from __future__ import annotations

from pathlib import Path

from kecpm.data.errors import BadLines, DataError
from kecpm.data.lines import iter_lines
from kecpm.data.schema import Entity, Post, post_id

# Twitter sets use PER/LOC/ORG/OTHER (2015) or MISC (2017); map them to the JMERE types.
CONLL_TYPES = {"PER": "per", "LOC": "loc", "ORG": "org", "OTHER": "misc", "MISC": "misc"}


def _bio_entities(tags: list[str], tokens: list[str]) -> list[Entity]:
    ents, start, etype = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == etype):
            ents.append(Entity(start, i, CONLL_TYPES[etype], " ".join(tokens[start:i])))
            start, etype = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, etype = i, tag[2:]
    return ents


def read_conll(path: str | Path, bad: BadLines | None = None) -> list[Post]:
    """Read a Twitter CoNLL file into posts with entities (no triples)."""
    bad = bad or BadLines()
    posts: list[Post] = []
    img_id, tokens, tags = "", [], []

    def flush() -> None:
        if tokens:
            posts.append(Post(post_id(img_id, tokens), list(tokens), img_id, entities=_bio_entities(tags, tokens)))

    for i, raw in iter_lines(path, bad):
        line = raw.rstrip("\r\n")
        if line.startswith("IMGID:"):
            flush()
            img_id, tokens, tags = line[6:].strip(), [], []
            continue
        if not line.strip():
            continue
        parts = line.split("\t")
        tag = parts[-1].strip() if len(parts) >= 2 else ""
        ok = tag == "O" or (tag[:2] in ("B-", "I-") and tag[2:] in CONLL_TYPES)
        if len(parts) < 2 or not ok:
            bad.handle(DataError(f"expected 'token<TAB>BIO-tag' with a known type, got {line!r}", path, i))
            continue
        tokens.append(parts[0])
        tags.append(tag)
    flush()
    return posts
