"""CLI commands: train (one model per few-shot seed, summary table) and pretrain-entities."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import typer

from kecpm.cli.common import (
    config_file_option,
    config_flag,
    friendly_errors,
    say,
    set_option,
    stdout,
)
from kecpm.model.config import ModelConfig
from kecpm.model.tasks import Task
from kecpm.pretrain import default_configs
from kecpm.train.adapt import AdaptConfig
from kecpm.train.config import TrainConfig

log = logging.getLogger(__name__)


def _seeds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError as e:
        raise ValueError(f"--seeds: expected integers like 17,67,97, got {text!r}") from e


MC, TC, AC = ModelConfig, TrainConfig, AdaptConfig
SECTIONS = ("model", "train", "adapt")
PRETRAIN_SECTIONS = ("model", "train")


def _run_name(root: Path, model: ModelConfig) -> str:
    where = [root.parent.name, root.name] if re.fullmatch(r"K\d+", root.name) else [root.name]
    tags = [t for t, on in ((model.task.value, model.task != Task.JMERE), ("pipeline", model.pipeline),
                            ("noknow", not model.use_knowledge),
                            ("noimg", not model.use_image), ("nosp", not model.soft_prompt_tokens),
                            ("warm", bool(model.init_from)), ("noshapes", not model.word_shapes),
                            (f"more-{model.experts}", bool(model.retrieval))) if on]
    return "-".join([*where, *tags])


@friendly_errors
def train(
    shots: int = typer.Option(5, "--shots", "-k", help="K of the K-shot splits under --splits-root."),
    dataset: str = typer.Option("mnre", help="Dataset folder under --splits-root."),
    splits_root: Path = typer.Option(Path("fewshot_splits"), help="Root of `kecpm build-splits` output."),
    splits_dir: Path | None = typer.Option(
        None, "--splits-dir", "--paper-splits",
        help="A folder of seed<s>/ or seed_<s>/ folders with train/val/test files (e.g. ../shared/data/fs-jmere, "
             "whose *_ofa_knowledge.json files are picked); overrides --shots/--dataset."),
    seeds: str | None = typer.Option(None, help="Seeds to train, e.g. 17,67,97 (default: every seed folder)."),
    out: Path = typer.Option(Path("runs"), help="Output root: <out>/<name>/seed<s>/."),
    name: str | None = typer.Option(None, help="Run name (default: derived from the data, task and ablations)."),
    knowledge: Path | None = typer.Option(
        None, help="Knowledge file (JSONL id -> knowledge); default: the split folder's knowledge.jsonl if "
                   "present, else the posts' own knowledge."),
    no_knowledge: bool = typer.Option(False, "--no-knowledge", help="Ablation: model.use_knowledge=false."),
    no_image: bool = typer.Option(False, "--no-image", help="Ablation: model.use_image=false (no visual prefix, "
                                                            "no caption)."),
    no_soft_prompt: bool = typer.Option(False, "--no-soft-prompt", help="Ablation: model.soft_prompt_tokens=0."),
    image_dir: Path | None = typer.Option(
        None, "--image-dir", help="Folder of the posts' images: each post's img_id names its file there or in a "
                                  "subfolder (e.g. MNRE's img_org with train/val/test). A missing or unreadable "
                                  "image is a warning naming the post, and the no-image vector."),
    task: str | None = config_flag(MC, "task", "--task"),
    pipeline: bool = typer.Option(False, "--pipeline", help="JMERE with two models, each with its own encoder: an "
                                                            "entity model, then a relation model over its entities "
                                                            "(model.pipeline=true)."),
    encoder: str | None = config_flag(MC, "encoder", "--encoder"),
    init_from: str | None = config_flag(MC, "init_from", "--init-from"),
    retrieval: str | None = config_flag(MC, "retrieval", "--retrieval"),
    experts: str | None = config_flag(MC, "experts", "--experts"),
    epochs: int | None = config_flag(TC, "epochs", "--epochs"),
    batch_size: int | None = config_flag(TC, "batch_size", "--batch-size"),
    patience: int | None = config_flag(TC, "patience", "--patience"),
    min_epochs: int | None = config_flag(TC, "min_epochs", "--min-epochs"),
    max_minutes: float | None = config_flag(TC, "max_minutes", "--max-minutes"),
    threads: int | None = config_flag(TC, "threads", "--threads"),
    workers: int | None = config_flag(TC, "workers", "--workers"),
    device: str | None = config_flag(TC, "device", "--device"),
    train_seed: int | None = typer.Option(None, help="Training seed (default: each split's seed)."),
    unlabelled: str | None = config_flag(AC, "unlabelled", "--unlabelled"),
    self_train: int | None = config_flag(AC, "self_train_rounds", "--self-train"),
    limit: int = typer.Option(0, help="Use only the first N posts of each split (quick checks)."),
    config: Path | None = config_file_option(),
    overrides: list[str] = set_option(SECTIONS, "model.span_none_weight=0.5 --set train.lr_gate=0.02"),
) -> None:
    """Train one model per seed, score its test split, and print mean ± std over seeds.

    Examples:

      kecpm train --shots 5                                  # our K=5 splits, every seed

      kecpm train --paper-splits ../shared/data/fs-jmere --seeds 17 --train-seed 1

      kecpm train --shots 5 --no-knowledge --device cuda --set model.span_none_weight=0.5

      kecpm train --config runs/mnre-K5/seed17/config.json   # the options of an earlier run

      kecpm train --shots 5 --unlabelled ../shared/data/mnre/mnre_train.txt   # relation prior from unlabelled posts

      kecpm train --shots 5 --retrieval runs/corpus.jsonl --experts mix   # MoRe: retrieved passages, two experts

      kecpm train --shots 5 --pipeline --init-from "$(kecpm pretrain-entities)"   # entity model + relation model

      kecpm train --shots 5 --pipeline --workers 2   # the seeds' models trained 2 at a time (1 thread each on 2 cores)
    """
    from kecpm.config import merge_sections
    from kecpm.data.folders import find_seed_splits
    from kecpm.results import summary_table, write_summary
    from kecpm.train import train_splits

    flags = {"model": {"task": task, "pipeline": True if pipeline else None, "encoder": encoder, "init_from": init_from, "retrieval": retrieval,
                       "experts": experts, "use_knowledge": False if no_knowledge else None,
                       "use_image": False if no_image else None, "soft_prompt_tokens": 0 if no_soft_prompt else None},
             "train": {"epochs": epochs, "batch_size": batch_size, "patience": patience, "min_epochs": min_epochs,
                       "max_minutes": max_minutes, "threads": threads, "workers": workers, "device": device,
                       "seed": train_seed},
             "adapt": {"unlabelled": unlabelled, "self_train_rounds": self_train}}
    sections = merge_sections(config, overrides, SECTIONS, flags)
    # the label schema always comes from the training posts (and the retrieval corpus's hash from the corpus),
    # never from an earlier run's config
    mcfg = ModelConfig.from_dict({k: v for k, v in sections["model"].items()
                                  if k not in ("entity_types", "relations", "allowed_pairs", "retrieval_sha256")})
    tcfg = TrainConfig.from_dict(sections["train"])
    acfg = AdaptConfig.from_dict(sections["adapt"])
    root = splits_dir or splits_root / dataset / f"K{shots}"
    splits = find_seed_splits(root, _seeds(seeds))
    for sp in splits:
        sp.image_dir = image_dir
    run = out / (name or _run_name(root, mcfg))
    train_splits(splits, mcfg, tcfg, run, knowledge=knowledge, limit=limit,
                 fixed_seed=sections["train"].get("seed"), adapt_config=acfg)
    csv_path = write_summary(run)
    stdout.print(summary_table(run))
    say(csv_path, label="summary:")
    if image_dir is not None:
        from kecpm.data.folders import PARTS
        from kecpm.data.images import missing_images

        parts = [sp.read(p) for sp in splits for p in PARTS]
        n_missing, n = sum(len(missing_images(ps)) for ps in parts), sum(len(ps) for ps in parts)
        say(f"{n_missing} of {n} posts have no image file in {image_dir} (the no-image vector)", label="images:")


@friendly_errors
def pretrain_entities(
    data: str = typer.Option(",".join(("twitter2015", "twitter2017")), help="Data sets (folders under --data-dir) "
                                                                          "whose train sets are used, comma-separated."),
    data_dir: Path | None = typer.Option(None, help="Data folder (default: $KECPM_DATA or ../shared/data)."),
    cache_dir: Path | None = typer.Option(None, help="Cache folder (default: $KECPM_CACHE or ~/.cache/kecpm)."),
    epochs: int | None = typer.Option(None, "--epochs", help=f"Maximum number of epochs. \\[default: {default_configs()[1].epochs}]",
                                      show_default=False),
    threads: int | None = config_flag(TC, "threads", "--threads"),
    device: str | None = config_flag(TC, "device", "--device"),
    score_test: bool = typer.Option(True, help="Score the model on each data set's test set (results.json "
                                               "test_by_dataset); a warm start does not need it."),
    config: Path | None = config_file_option(),
    overrides: list[str] = set_option(PRETRAIN_SECTIONS, "model.word_shapes=false"),
) -> None:
    """Train an entity (MNER) model on public NER data once and print its folder, for `train --init-from`.

    The model is kept in the cache under the hash of its input files and options: a second call
    with the same inputs trains nothing and prints the same folder. Defaults: text only, word
    shapes on, 3 epochs, batch 16.

    Examples:

      kecpm train --shots 5 --init-from "$(kecpm pretrain-entities)"

      kecpm pretrain-entities --data twitter2017 --epochs 5 --device cuda

      kecpm pretrain-entities --epochs 1 --no-score-test --set train.group_by_length=true   # as make run
    """
    from kecpm.config import merge_sections
    from kecpm.pretrain import pretrain_entities

    base_model, base_train = default_configs()
    flags = {"model": {}, "train": {"epochs": epochs, "threads": threads, "device": device}}
    sections = merge_sections(config, overrides, PRETRAIN_SECTIONS, flags)
    mcfg = base_model.override(sections["model"])
    tcfg = base_train.override(sections["train"])
    path = pretrain_entities([d.strip() for d in data.split(",") if d.strip()], data_dir, mcfg, tcfg, cache_dir,
                             score_test=score_test)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("train")(train)
    app.command("pretrain-entities")(pretrain_entities)
    from kecpm.cli.align_cmds import pretrain_align  # PROMU alignment pre-training (kecpm/pretrain_align.py)

    app.command("pretrain-align")(pretrain_align)
