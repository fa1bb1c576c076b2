"""CLI command: pretrain-align (PROMU's alignment pre-training on unlabelled image/caption-text pairs)."""

from __future__ import annotations

from pathlib import Path

import typer

from kecpm.align_config import AlignConfig
from kecpm.cli.common import config_file_option, config_flag, friendly_errors, set_option
from kecpm.model.config import ModelConfig

SECTIONS = ("model", "align")


@friendly_errors
def pretrain_align(
    pairs: list[Path] = typer.Option(
        ..., "--pairs", help="File of unlabelled posts with captions and/or images (any format kecpm reads; "
                             "labels are dropped), repeatable. Posts with neither are skipped and counted."),
    init_from: str | None = config_flag(ModelConfig, "init_from", "--init-from"),
    epochs: int | None = config_flag(AlignConfig, "epochs", "--epochs"),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (model/, align.config.json, align.json); default: the cache, "
                            "$KECPM_CACHE/align-models/<hash of the inputs and options>."),
    image_dir: Path | None = typer.Option(
        None, "--image-dir", help="Folder of the posts' images (each post's img_id names its file); a "
                                  "missing or unreadable image is a warning, and the post uses its caption."),
    cache_dir: Path | None = typer.Option(None, help="Cache folder (default: $KECPM_CACHE or "
                                                     "~/.cache/kecpm)."),
    threads: int | None = config_flag(AlignConfig, "threads", "--threads"),
    device: str | None = config_flag(AlignConfig, "device", "--device"),
    config: Path | None = config_file_option(),
    overrides: list[str] = set_option(SECTIONS, "align.teacher_temperature=0.05 --set align.max_posts=500"),
) -> None:
    """Alignment pre-training (PROMU): tune a JMERE model on unlabelled image/caption-text pairs and
    print its model folder, for `train --init-from`.

    Objectives (soft pseudo-labels from the frozen pretrained encoder): candidate mentions vs image
    regions (the caption's tokens when there is no image file), relation label words vs the image,
    and a text-image InfoNCE (docs/model.md). The result is cached under the hash of its inputs and
    options: a second call with the same inputs trains nothing and prints the same folder (the last
    line on stdout).

    Examples:

      python benchmarks/align_pairs.py    # runs/align/fs-jmere-pairs.jsonl: fs-jmere train+val, captioned

      kecpm pretrain-align --pairs runs/align/fs-jmere-pairs.jsonl --init-from "$(kecpm pretrain-entities)"

      kecpm train --shots 5 --init-from "$(kecpm pretrain-align --pairs runs/align/fs-jmere-pairs.jsonl)"

      kecpm pretrain-align --pairs posts.jsonl --image-dir imgs/ --epochs 2 --set align.max_posts=500
    """
    from kecpm.config import merge_sections
    from kecpm.pretrain_align import model_config
    from kecpm.pretrain_align import pretrain_align as run

    flags = {"model": {"init_from": init_from},
             "align": {"epochs": epochs, "threads": threads, "device": device}}
    sections = merge_sections(config, overrides, SECTIONS, flags)
    path = run(pairs, model_config(sections["model"]), AlignConfig.from_dict(sections["align"]), out,
               cache_dir, image_dir)
    typer.echo(str(path))
