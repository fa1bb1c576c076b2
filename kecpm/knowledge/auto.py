"""Knowledge for new posts at prediction time (``kecpm predict --knowledge auto``).

The knowledge is generated as ``gen-knowledge`` would (same pipeline, backend and answer cache). By
default it is generated the way the model's training knowledge was: a model folder written by
``kecpm train`` sits in a run folder whose ``config.json`` names the knowledge file and split
folder used; ``knowledge.config.json`` beside that file gives the options, the split's train file
the demonstrations. Either can be given instead (``--knowledge-config``, ``--demos``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kecpm.data.schema import Hint, Post
from kecpm.knowledge.pipeline import Summary

log = logging.getLogger(__name__)


@dataclass
class TrainingKnowledge:
    """Where the knowledge of a model's training came from (each None when not known or not found)."""

    config: Path | None = None
    demos: Path | None = None


def training_knowledge(model_dir: str | Path) -> TrainingKnowledge:
    """The knowledge config and demonstration file of the run that trained ``model_dir``, if found."""
    from kecpm.data.folders import part_file

    run_config = Path(model_dir) / ".." / "config.json"
    try:
        run = json.loads(run_config.read_text(encoding="utf-8")).get("run") or {}
    except (OSError, ValueError, AttributeError):
        return TrainingKnowledge()
    found = TrainingKnowledge()
    know = run.get("knowledge_file")
    if isinstance(know, str) and know:
        know_path = Path(know) / "knowledge.jsonl" if Path(know).is_dir() else Path(know)
        cfg = know_path.with_name(know_path.stem + ".config.json")
        found.config = cfg if cfg.is_file() else None
    split = run.get("split_dir")
    if isinstance(split, str) and split and Path(split).is_dir():
        found.demos = part_file(Path(split), "train")
    return found


def knowledge_for(posts: Sequence[Post], model_dir: str | Path, config_file: str | Path | None = None,
                  overrides: Sequence[str] = (), flags: dict[str, object] | None = None,
                  demos: str | Path | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True) -> tuple[dict[str, list[str]], dict[str, list[Hint]], Summary]:
    """Post id -> knowledge sentences for ``posts``, generated with the configured backend through the
    answer cache (a rerun makes no model call), post id -> entity hints (``knowledge.format=hints``;
    empty otherwise), and the run's figures."""
    from kecpm.data.readers import read_posts
    from kecpm.knowledge.cache import AnswerCache
    from kecpm.knowledge.config import load_configs
    from kecpm.knowledge.pipeline import generate_knowledge
    from kecpm.knowledge.store import hints_map, knowledge_map

    known = training_knowledge(model_dir)
    config_file = config_file or known.config
    demos = demos or known.demos
    log.info("knowledge for %d posts: options from %s, demonstrations from %s", len(posts),
             config_file or "the defaults", demos or "nowhere (none shown)")
    cfg, options = load_configs(config_file, list(overrides), flags or {})
    pool = read_posts(demos) if demos else []
    unique = list({p.id: p for p in posts}.values())  # the same text twice is one post
    with AnswerCache(Path(cache_dir) if cache_dir else None) as cache:
        records, summary = generate_knowledge(unique, pool, cfg, cache=cache, progress=progress, options=options)
    return knowledge_map(records), hints_map(records), summary
