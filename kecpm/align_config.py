"""AlignConfig: the options of ``kecpm pretrain-align`` (PROMU's alignment pre-training,
kecpm/align.py), importable without torch (the CLI builds its help from it)."""

from __future__ import annotations

from dataclasses import dataclass

from kecpm.config import Config, ConfigError, option
from kecpm.device import DEVICE_HELP, check_device


@dataclass
class AlignConfig(Config):
    """Alignment pre-training on unlabelled image/caption-text pairs (``kecpm pretrain-align``)."""

    epochs: int = option(1, "Passes over the pairs.")
    batch_size: int = option(16, "Posts per step (the InfoNCE's negatives are the batch's other posts).")
    lr_encoder: float = option(2e-5, "Learning rate of the model (text encoder, word shapes, soft prompt, "
                                     "visual prefix, span widths).")
    lr_proj: float = option(1e-3, "Learning rate of the alignment projections (not saved with the model).")
    weight_decay: float = option(0.01, "AdamW weight decay.")
    warmup: float = option(0.1, "Fraction of steps with linear warm-up (then linear decay).")
    grad_clip: float = option(1.0, "Gradient norm clip (0 = none).")
    temperature: float = option(0.1, "Temperature of the student's similarities and of the InfoNCE.")
    teacher_temperature: float = option(0.1, "Temperature of the teacher's similarities (the soft "
                                              "pseudo-labels; lower = sharper).")
    entity_weight: float = option(1.0, "Weight of the entity-to-region KL.")
    relation_weight: float = option(1.0, "Weight of the relation-prompt-to-image KL.")
    nce_weight: float = option(1.0, "Weight of the text-to-image InfoNCE.")
    max_span_words: int = option(3, "Longest candidate mention span, in words.")
    max_posts: int = option(0, "Use at most this many pairs (a fixed random sample); 0 = all.")
    seed: int = option(17, "Seed of the sample, the shuffling, the projections and dropout.")
    threads: int = option(0, "torch threads (0 = leave torch's default).")
    device: str = option("auto", f"Where to train: {DEVICE_HELP}.")
    progress: bool = option(True, "Show a progress bar (only on a terminal).")

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_span_words < 1:
            raise ConfigError("align: epochs, batch_size and max_span_words must be >= 1")
        if self.lr_encoder < 0 or self.lr_proj <= 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("align: lr_encoder must be >= 0, lr_proj > 0, weight_decay and grad_clip >= 0")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"align: warmup must be in [0, 1), got {self.warmup}")
        if self.temperature <= 0 or self.teacher_temperature <= 0:
            raise ConfigError("align: temperature and teacher_temperature must be > 0")
        weights = (self.entity_weight, self.relation_weight, self.nce_weight)
        if min(weights) < 0 or not sum(weights) > 0:
            raise ConfigError("align: the objective weights must be >= 0, at least one > 0")
        if self.max_posts < 0 or self.threads < 0:
            raise ConfigError("align: max_posts and threads must be >= 0")
        check_device(self.device)
