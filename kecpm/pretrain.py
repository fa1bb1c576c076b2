"""Entity pretraining: an MNER model on public NER data, to warm-start few-shot JMERE models.

``pretrain_entities(["twitter2015", "twitter2017"])`` trains one ``task=mner`` model on the train
sets of the named data sets (validation: their valid sets; test: each test set, scored apart) and
keeps it in ``<cache>/entity-models/<key>/``, where ``key`` hashes the input files' bytes and both
configs: the same request is trained once and then served from the cache (a killed run resumes
from its checkpoint). The Twitter sets share no text with MNRE (``kecpm.data.overlap``), so this
leaks no JMERE test label.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from kecpm.data.folders import PARTS, find_seed_splits
from kecpm.data.jsonl import atomic_write, read_jsonl
from kecpm.evaluate import score
from kecpm.hashing import sha256_bytes, sha256_file
from kecpm.model.config import ModelConfig
from kecpm.model.tasks import Task
from kecpm.paths import default_cache_dir, default_data_dir
from kecpm.results import summary
from kecpm.train.config import RUNTIME_OPTIONS, TrainConfig

log = logging.getLogger(__name__)
DATASETS = ("twitter2015", "twitter2017")
# Defaults as they were when the key was introduced: a default that changes later keeps the keys.
KEY_BASELINE = {"word_shapes": False, "knowledge_mentions": False}


def default_configs() -> tuple[ModelConfig, TrainConfig]:
    """Text only (Twitter NER has no captions or knowledge, so no knowledge features), word shapes on;
    3 epochs, batch 16."""
    return (ModelConfig(task=Task.MNER, use_image=False, use_knowledge=False, knowledge_mentions=False, word_shapes=True),
            TrainConfig(epochs=3, batch_size=16, min_epochs=3, patience=0, seed=17))


def cache_key(files: dict[str, dict[str, str]], model: ModelConfig, args: TrainConfig) -> str:
    """sha256 of the inputs' file hashes and the options that differ from their defaults (canonical
    JSON), first 16 hex digits: adding an option with a default to a config keeps every key."""
    train = {k: v for k, v in args.non_default().items() if k not in RUNTIME_OPTIONS}
    blob = json.dumps({"files": files, "model": model.non_default(KEY_BASELINE), "train": train}, sort_keys=True)
    return sha256_bytes(blob.encode())[:16]


def pretrain_entities(datasets: list[str], data_dir: str | Path | None = None, model: ModelConfig | None = None,
                      args: TrainConfig | None = None, cache_dir: str | Path | None = None) -> Path:
    """Train (or find in the cache) the MNER model of ``datasets``; returns its model folder."""
    from kecpm.train.run import train_seed

    base_model, base_args = default_configs()
    model = (model or base_model).replace(task=Task.MNER)
    args = args or base_args
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    unknown = [d for d in datasets if not (data_dir / d).is_dir()]
    if not datasets or unknown:
        raise FileNotFoundError(f"{data_dir}: no data set folder {', '.join(unknown) or '(none given)'} "
                                f"(known: {', '.join(DATASETS)})")
    splits = {d: find_seed_splits(data_dir / d)[0] for d in datasets}
    files = {d: {p: sha256_file(sp.files[p]) for p in PARTS} for d, sp in splits.items()}
    out = Path(cache_dir or default_cache_dir()) / "entity-models" / cache_key(files, model, args)
    if (out / "results.json").exists():
        log.info("entity model found in the cache: %s", out / "model")
        return out / "model"
    parts = {d: {p: sp.read(p) for p in PARTS} for d, sp in splits.items()}
    train = [p for d in datasets for p in parts[d]["train"]]
    val = [p for d in datasets for p in parts[d]["val"]]
    test = [p for d in datasets for p in parts[d]["test"]]
    log.info("pretraining entities on %s: %d train, %d val posts -> %s", ", ".join(datasets), len(train), len(val), out)
    record = train_seed(train, val, test, model, args, out, extra={"datasets": datasets, "files": files})
    preds = {p.id: p for p in read_jsonl(out / "predictions.jsonl")}
    by_set: dict[str, Any] = {d: summary(score(parts[d]["test"], [preds[p.id] for p in parts[d]["test"]]))
                              for d in datasets}
    record["test_by_dataset"] = by_set
    with atomic_write(out / "results.json") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
    for d, s in by_set.items():
        log.info("%s test entity F1 %.1f", d, 100 * s["entity_f1"])
    return out / "model"
