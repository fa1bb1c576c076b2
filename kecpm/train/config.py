"""TrainConfig: the optimisation settings of one training run, saved in every run's config.json."""

from __future__ import annotations

from dataclasses import dataclass

from kecpm.config import Config, ConfigError, option
from kecpm.device import DEVICE_HELP, check_device
from kecpm.results import SELECTION_METRICS

KNOWLEDGE_POST_MODES = ("off", "clean", "named")  # train.knowledge_posts (kecpm.train.knowledge_posts)
# Options that change where and how visibly a run goes, not what it learns: left out of cache keys and
# of the check that a finished run was made with the same options (pretrain, pretrain_align, train.run).
RUNTIME_OPTIONS = ("threads", "workers", "device", "progress", "eval_batch_size", "max_minutes", "checkpoint_minutes")


@dataclass
class TrainConfig(Config):
    """Optimisation settings of one training run."""

    epochs: int = option(20, "Maximum number of epochs.")
    entity_epochs: int = option(0, "A pipeline's (model.pipeline) entity model's maximum number of epochs (its "
                                   "learning-rate schedule spans them); 0 = epochs. On the paper's splits the entity "
                                   "model with inline knowledge still improved at epoch 15 of 15.")
    batch_size: int = option(8, "Posts per training step.")
    eval_batch_size: int = option(32, "Posts per prediction batch.")
    group_by_length: bool = option(False, "Training batches of posts of similar length (shuffled in groups of 50 "
                                          "batches, sorted by word count within a group, batch order shuffled): "
                                          "less padding, faster epochs; off keeps plain shuffled batches.")
    lr_encoder: float = option(5e-5, "Learning rate of the encoder (when not frozen).")
    lr_head: float = option(1e-3, "Learning rate of soft prompt, visual prefix, fusion and heads.")
    lr_gate: float = option(1e-2, "Learning rate of the knowledge gates (no weight decay), so they can open.")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to the knowledge gates).")
    warmup: float = option(0.1, "Fraction of steps with linear warm-up.")
    head_only_epochs: int = option(0, "Epochs at the start that train everything but the pretrained encoder, which "
                                      "then warms up and decays over the remaining steps (linear probing then "
                                      "fine-tuning; keeps a warm-started encoder from being distorted by new heads).")
    augment: int = option(0, "Mention replacement: this many extra copies of every training post, each entity "
                                "mention swapped for another of its type from augment_pool (kecpm.data.augment); 0 = off.")
    augment_pool: str = option("", "Posts whose entity mentions the copies draw from (any readable file, e.g. public "
                                    "NER data; types mapped as for a warm start, PER -> per, ...); empty = the "
                                    "training posts' own mentions.")
    knowledge_posts: str = option("off", "An entity model (task mner, or a pipeline's entity model) also trains on its "
                                         "training posts' knowledge sentences, each a post of its own with the gold "
                                         "names projected onto it (kecpm.train.knowledge_posts): off | clean (only "
                                         "sentences whose other capitalised words all lie in a name) | named (every "
                                         "sentence that names a gold entity).")
    fused_adamw: bool = option(True, "AdamW as torch's fused kernel (fused=True): about 5x faster optimizer steps on a "
                                     "CPU (they were 15 % of a K=5 epoch), the per-tensor loop's results up to the last "
                                     "bits; false = that loop (how runs were trained before 2026-11-24).")
    grad_clip: float = option(1.0, "Gradient norm clip (0 = none).")
    ema: float = option(0.0, "Exponential moving average of the trained weights, decay per step (e.g. 0.95; 0 = off): "
                             "validation, the best epoch and the saved model use the averaged weights (kecpm.train.ema).")
    metric: str = option("", "Val score that selects the best epoch and the thresholds: "
                             f"{' | '.join(SELECTION_METRICS)} (the mean of entity and rel-strict F1); empty = the task's "
                             "(rel_strict_f1, mner: entity_f1).")
    select_window: int = option(3, "Select the best epoch, and stop early, by the mean val score of the last this "
                                   "many epochs (a trailing window: the kept epoch ends a good stretch instead of "
                                   "being one lucky reading of a small val set; the epochs before the first full window "
                                   "are only kept until it comes); 1 = each epoch's own score. 3 measured +1.1 "
                                   "rel-strict on the paper's splits and +1.0 at K=5 over 1 (docs/benchmarks.md).")
    patience: int = option(5, "Stop after this many epochs without a better val score (0 = never).")
    min_epochs: int = option(10, "No early stopping before this many epochs (small splits need many epochs).")
    max_minutes: float = option(0.0, "Wall-clock budget of one run in minutes (0 = none).")
    checkpoint_minutes: float = option(1.0, "Write the resume checkpoint (model, optimizer, about 3x the model's size) "
                                            "after an epoch only when this many minutes have passed since the last one, "
                                            "the epoch is the best so far or training ends; a killed run redoes at most "
                                            "this much. 0 = after every epoch.")
    seed: int = option(17, "Training seed: init, shuffling, dropout.")
    threads: int = option(0, "torch threads (0 = leave torch's default; with workers > 1, the cores / workers).")
    workers: int = option(1, "Processes that train the seeds (and a pipeline's two models) side by side, "
                             "kecpm.train.parallel: 2 on a 2-core CPU trains about 1.3x faster than 1 process "
                             "of 2 threads; each run is the same as when trained alone with that many threads.")
    device: str = option("auto", f"Where to train: {DEVICE_HELP}.")
    progress: bool = option(True, "Show a progress bar per epoch (only on a terminal).")
    tune_thresholds: bool = option(True, "After training, pick the heads' no-class thresholds on val.")

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.entity_epochs < 0:
            raise ConfigError(f"entity_epochs must be >= 0 (0 = epochs), got {self.entity_epochs}")
        if self.lr_encoder < 0 or self.lr_head <= 0 or self.lr_gate <= 0:
            raise ConfigError("learning rates must be positive")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup must be in [0, 1), got {self.warmup}")
        if not 0 <= self.head_only_epochs < self.epochs:
            raise ConfigError(f"head_only_epochs must be in [0, epochs), got {self.head_only_epochs}")
        if self.max_minutes < 0 or self.checkpoint_minutes < 0 or self.patience < 0 or self.min_epochs < 0 or self.threads < 0:
            raise ConfigError("max_minutes, checkpoint_minutes, patience, min_epochs and threads must be >= 0")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.select_window < 1:
            raise ConfigError(f"select_window must be >= 1, got {self.select_window}")
        if self.augment < 0:
            raise ConfigError(f"augment must be >= 0, got {self.augment}")
        if self.knowledge_posts not in KNOWLEDGE_POST_MODES:
            raise ConfigError(f"knowledge_posts: {self.knowledge_posts!r} is not one of {', '.join(KNOWLEDGE_POST_MODES)}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.metric and self.metric not in SELECTION_METRICS:
            raise ConfigError(f"metric: {self.metric!r} is not one of {', '.join(SELECTION_METRICS)}")
        check_device(self.device)
