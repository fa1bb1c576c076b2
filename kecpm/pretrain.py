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
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.hashing import sha256_bytes, sha256_file
from kecpm.model.config import ModelConfig
from kecpm.model.tasks import Task
from kecpm.paths import default_cache_dir, default_data_dir
from kecpm.results import summary, write_results
from kecpm.train.config import RUNTIME_OPTIONS, TrainConfig

log = logging.getLogger(__name__)
DATASETS = ("twitter2015", "twitter2017")
# Defaults as they were when the key was introduced: a default that changes later keeps the keys.
KEY_BASELINE = {"word_shapes": False, "knowledge_mentions": False}
TRAIN_KEY_BASELINE = {"select_window": 1, "fused_adamw": False}


def default_configs() -> tuple[ModelConfig, TrainConfig]:
    """Text only (Twitter NER has no captions or knowledge, so no knowledge features), word shapes on;
    3 epochs, batch 16, each epoch selected by its own val score (3 epochs leave no room for a window)."""
    return (ModelConfig(task=Task.MNER, use_image=False, use_knowledge=False, knowledge_mentions=False, word_shapes=True),
            TrainConfig(epochs=3, batch_size=16, min_epochs=3, patience=0, seed=17, select_window=1))


def cache_key(files: dict[str, dict[str, str]], model: ModelConfig, args: TrainConfig) -> str:
    """sha256 of the inputs' file hashes and the options that differ from their defaults (canonical
    JSON), first 16 hex digits: adding an option with a default to a config keeps every key."""
    train = {k: v for k, v in args.non_default(TRAIN_KEY_BASELINE).items() if k not in RUNTIME_OPTIONS}
    blob = json.dumps({"files": files, "model": model.non_default(KEY_BASELINE), "train": train}, sort_keys=True)
    return sha256_bytes(blob.encode())[:16]


def pretrain_entities(datasets: list[str], data_dir: str | Path | None = None, model: ModelConfig | None = None,
                      args: TrainConfig | None = None, cache_dir: str | Path | None = None,
                      score_test: bool = True) -> Path:
    """Train (or find in the cache) the MNER model of ``datasets``; returns its model folder.
    ``score_test``: score each data set's test set (kept in results.json ``test_by_dataset``); off, the
    test sets are not read, which a warm start does not need (a later call with it on scores the cached
    model then)."""
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
        if score_test and not json.loads((out / "results.json").read_text(encoding="utf-8")).get("test_by_dataset"):
            _score_tests(out, {d: sp.read("test") for d, sp in splits.items()})
        return out / "model"
    selects = args.epochs > 1 or args.tune_thresholds  # else val has nothing to choose: it is not read
    wanted = ["train", *(["val"] if selects else []), *(["test"] if score_test else [])]
    parts = {p: {d: sp.read(p) for d, sp in splits.items()} for p in wanted}
    train, val, test = ([x for posts in parts.get(p, {}).values() for x in posts] for p in PARTS)
    log.info("pretraining entities on %s: %d train, %d val posts%s -> %s", ", ".join(datasets), len(train), len(val),
             "" if selects else " (one epoch, no thresholds: nothing to select on val)", out)
    train_seed(train, val, test, model, args, out, extra={"datasets": datasets, "files": files})
    if score_test:
        _score_tests(out, parts["test"])
    else:
        log.info("test sets not scored (a later call without --no-score-test scores this model)")
    return out / "model"


def _score_tests(out: Path, tests: dict[str, list[Post]]) -> None:
    """Entity F1 of the model in ``out`` on each data set's test posts, into results.json ``test_by_dataset``
    (predictions from ``out/predictions.jsonl`` where training wrote them, else predicted now)."""
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))
    posts = [p for ps in tests.values() for p in ps]
    if record.get("n_test") == len(posts) and (out / "predictions.jsonl").exists():
        preds = {p.id: p for p in read_jsonl(out / "predictions.jsonl")}
    else:
        from kecpm.model.model import PromptModel

        model = PromptModel.load(out / "model")
        preds = {p.id: p for p in model.predict(posts)}
        write_jsonl(out / "predictions.jsonl", list(preds.values()))
        record.update(test=summary(score(posts, list(preds.values()))), n_test=len(posts))
    by_set: dict[str, Any] = {d: summary(score(ps, [preds[p.id] for p in ps])) for d, ps in tests.items()}
    record["test_by_dataset"] = by_set
    write_results(out / "results.json", record)
    for d, s in by_set.items():
        log.info("%s test entity F1 %.1f", d, 100 * s["entity_f1"])
