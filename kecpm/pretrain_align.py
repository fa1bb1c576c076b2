"""Alignment pre-training (PROMU): ``kecpm pretrain-align`` reads unlabelled image/caption-text pairs
and tunes a JMERE prompt model on the self-supervised objectives of ``kecpm/align.py``.

``pretrain_align(["pairs.jsonl"])`` reads the files (any format ``read_posts`` reads; every label is
dropped on the way in, records of one post kept once), builds a ``task=jmere`` model over the MNRE
schema from ``model.init_from`` (e.g. the entity model of ``kecpm pretrain-entities``: the encoder,
word shapes and soft prompt settings are taken from it) or from the plain encoder, skips the posts
with neither a caption nor a readable image (counted in the log), trains, and writes
``<out>/model/`` (``PromptModel.save``; the projections are not part of it), ``<out>/align.config.json``
(the ``model`` and ``align`` sections, readable with ``--config``) and ``<out>/align.json`` (counts,
losses per epoch, minutes). Default ``<out>``: ``<cache>/align-models/<key>/``, the key hashing the
pair files' bytes, the images used, the init-from folder's files and both configs: a second call
with the same inputs trains nothing and returns the same folder.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from kecpm.align import Aligner
from kecpm.align_config import AlignConfig
from kecpm.config import ConfigError
from kecpm.data.jsonl import atomic_write
from kecpm.data.readers import read_posts
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Post, first_of_each_id
from kecpm.hashing import sha256_bytes, sha256_file
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.model.tasks import Task
from kecpm.paths import default_cache_dir
from kecpm.progress import progress
from kecpm.train.adapt import strip_labels
from kecpm.train.config import RUNTIME_OPTIONS

log = logging.getLogger(__name__)
ADOPTED = ("encoder", "word_shapes", "soft_prompt_tokens", "max_span_width")  # from the init-from model

# Defaults as they were when the cache key was introduced: a default that changes later changes the
# key only for configs that really differ from the model cached then.
KEY_BASELINE = {"knowledge_mentions": False}


def model_config(overrides: dict[str, Any] | None = None) -> ModelConfig:
    """The aligned model's config: JMERE over the MNRE schema, image and caption on, no knowledge;
    ``encoder``, ``word_shapes``, ``soft_prompt_tokens``, ``max_span_width`` as in ``init_from``'s model
    unless ``overrides`` set them."""
    from kecpm.packaged import model_folder

    overrides = dict(overrides or {})
    base: dict[str, Any] = {"task": Task.JMERE.value, "entity_types": list(ENTITY_TYPES),
                            "relations": list(RELATIONS), "use_image": True, "use_knowledge": False}
    if overrides.get("init_from"):
        src = ModelConfig.load(model_folder(overrides["init_from"]) / "config.json")
        base.update({k: getattr(src, k) for k in ADOPTED})
    cfg = ModelConfig.from_dict(base).override(overrides)
    if cfg.task != Task.JMERE or not cfg.use_image or cfg.use_knowledge:
        raise ConfigError("pretrain-align: model.task must be jmere, model.use_image true (captions and "
                          "images are the regions) and model.use_knowledge false")
    return cfg


def read_pairs(paths: list[str | Path], image_dir: str | Path | None = None) -> list[Post]:
    """The posts of ``paths`` without labels, each post once (first record kept)."""
    posts = [strip_labels(p) for path in paths for p in read_posts(path)]
    kept = first_of_each_id(posts)
    if len(kept) < len(posts):
        log.info("pairs: %d repeated post(s) kept once", len(posts) - len(kept))
    if image_dir is not None:
        from kecpm.data.images import resolve_images

        kept = resolve_images(kept, image_dir)
    return kept


def folder_digest(path: Path) -> str:
    """sha256 over the relative paths and sha256 of every file under ``path``."""
    files = sorted(f for f in path.rglob("*") if f.is_file())
    return sha256_bytes(json.dumps([[str(f.relative_to(path)), sha256_file(f)] for f in files]).encode())


def cache_key(pairs: list[Path], posts: list[Post], model: ModelConfig, cfg: AlignConfig) -> str:
    """First 16 hex digits of sha256 over the inputs (files, images, init-from folder) and the options
    that differ from their defaults."""
    from kecpm.packaged import model_folder

    files = {p.image_path for p in posts if p.image_path and Path(p.image_path).is_file()}
    images = sorted(sha256_file(f) for f in files)
    blob = {"pairs": [sha256_file(p) for p in pairs], "images": images,
            "init_from": folder_digest(model_folder(model.init_from)) if model.init_from else "",
            "model": {k: v for k, v in model.non_default(KEY_BASELINE).items() if k != "init_from"},
            "align": {k: v for k, v in cfg.non_default().items() if k not in RUNTIME_OPTIONS}}
    return sha256_bytes(json.dumps(blob, sort_keys=True).encode())[:16]


def select(posts: list[Post], aligner: Aligner, cfg: AlignConfig) -> tuple[list[Post], dict[str, int]]:
    """The posts with a readable image or a caption (a fixed sample of ``max_posts``) and the counts."""
    kinds = {p.id: aligner.usable(p) for p in posts}
    counts = Counter(kinds[p.id] or "skipped" for p in posts)
    kept = sorted((p for p in posts if kinds[p.id]), key=lambda p: p.id)
    if cfg.max_posts and len(kept) > cfg.max_posts:
        kept = sorted(random.Random(cfg.seed).sample(kept, cfg.max_posts), key=lambda p: p.id)
    log.info("pairs: %d posts with a readable image, %d with a caption only, %d skipped (no caption, no "
             "readable image); training on %d", counts["image"], counts["caption"], counts["skipped"],
             len(kept))
    return kept, {"image": counts["image"], "caption": counts["caption"], "skipped": counts["skipped"],
                  "used": len(kept)}


def train_alignment(aligner: Aligner, posts: list[Post], cfg: AlignConfig) -> list[dict[str, float]]:
    """AdamW over the model (``lr_encoder``) and the projections (``lr_proj``); one record per epoch."""
    model = aligner.model
    skip = {id(p) for p in model.heads.parameters()}  # the heads take no part in the objectives
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in skip]
    groups = [{"params": params, "lr": cfg.lr_encoder},
              {"params": list(aligner.parameters()), "lr": cfg.lr_proj}]
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(posts) / cfg.batch_size)
    warm = max(1, int(steps * cfg.warmup))  # linear warm-up, then linear decay to 0

    def factor(s: int) -> float:
        return min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    model.train()
    aligner.train()
    records = []
    for epoch in range(1, cfg.epochs + 1):
        start, sums = time.time(), Counter()
        order = list(posts)
        random.Random(cfg.seed + epoch).shuffle(order)
        bar = progress(range(0, len(order), cfg.batch_size), enabled=cfg.progress,
                       desc=f"align {epoch}/{cfg.epochs}")
        for i in bar:
            batch = order[i:i + cfg.batch_size]
            losses = aligner.losses(batch)
            opt.zero_grad()
            losses["total"].backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_([*params, *aligner.parameters()], cfg.grad_clip)
            opt.step()
            sched.step()
            values = {k: float(v.detach()) for k, v in losses.items()}
            for k, v in values.items():
                sums[k] += v * len(batch)
            bar.set_postfix(loss=f"{values['total']:.3f}")
        rec = {k: sums[k] / len(order) for k in ("total", "entity", "relation", "nce")}
        records.append({"epoch": epoch, **rec, "minutes": (time.time() - start) / 60})
        log.info("align epoch %d/%d: loss %.4f (entity-region KL %.4f, relation-prompt KL %.4f, "
                 "InfoNCE %.4f), %d posts, %.1f min", epoch, cfg.epochs, rec["total"], rec["entity"],
                 rec["relation"], rec["nce"], len(order), records[-1]["minutes"])
    model.eval()
    return records


def pretrain_align(pairs: list[str | Path], model: ModelConfig | None = None, cfg: AlignConfig | None = None,
                   out: str | Path | None = None, cache_dir: str | Path | None = None,
                   image_dir: str | Path | None = None) -> Path:
    """Train (or find done) the aligned model of ``pairs``; returns its model folder."""
    from kecpm.device import resolve_device
    from kecpm.train.trainer import set_seed

    model, cfg = model or model_config(), cfg or AlignConfig()
    if not pairs:
        raise ConfigError("pretrain-align: no pair file given (--pairs FILE)")
    paths = [Path(p) for p in pairs]
    posts = read_pairs(paths, image_dir)
    key = cache_key(paths, posts, model, cfg)
    root = Path(out) if out else Path(cache_dir or default_cache_dir()) / "align-models" / key
    done = root / "align.json"
    finished = done.exists() and json.loads(done.read_text()).get("key") == key
    if finished and (root / "model" / "config.json").exists():
        log.info("aligned model found: %s", root / "model")
        return root / "model"
    done.unlink(missing_ok=True)  # the folder no longer vouches for any key until this run finishes
    set_seed(cfg.seed, cfg.threads)
    start = time.time()
    net = PromptModel.create(model).to(resolve_device(cfg.device))
    aligner = Aligner(net, cfg)
    used, counts = select(posts, aligner, cfg)
    if not used:
        raise ConfigError(f"pretrain-align: none of the {len(posts)} posts has a caption or a readable image")
    log.info("alignment pre-training on %d posts from %s -> %s", len(used), ", ".join(map(str, paths)), root)
    epochs = train_alignment(aligner, used, cfg)
    log.info("soft pseudo-labels: normalised entropy %s (1 = uniform)",
             ", ".join(f"{k.split('_')[0]} {v:.2f}" for k, v in aligner.sharpness().items() if v is not None))
    net.save(root / "model")
    run = {"pairs": [str(p) for p in paths], "image_dir": str(image_dir) if image_dir else None, "key": key}
    with atomic_write(root / "align.config.json") as fh:
        json.dump({"model": model.to_dict(), "align": cfg.to_dict(), "run": run}, fh, indent=2,
                  sort_keys=True)
    with atomic_write(done) as fh:
        json.dump({"key": key, "posts": counts, "epochs": epochs, "minutes": (time.time() - start) / 60,
                   "pseudo_labels": aligner.sharpness(), "warm_start": net.warm_start_info}, fh, indent=2,
                  sort_keys=True)
    return root / "model"
