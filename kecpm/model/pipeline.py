"""JMERE as a pipeline of two models: an entity model finds the entities, a relation model relates them.

The joint model shares one encoder between its span and relation heads; PURE (Zhong & Chen, NAACL 2021)
found two encoders better: the entity model (task ``mner``, selected on val entity F1) and the relation
model (task ``mre``, trained on the gold entities, selected on val rel-strict F1 with them given) each
keep what their own task needs. At prediction the relation model reads the entity model's entities as
the post's entities (``min_triples`` then keeps at least one triple among them).

A pipeline folder holds ``pipeline.json`` (where the two model folders are, relative to it), the
relation model's ``config.json`` (so code that reads a model's options, e.g. whether it uses knowledge,
reads them there) and its own model card (README.md, ``kecpm.model.card``). ``PromptModel.load`` returns a
``PipelineModel`` for such a folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from kecpm.data.jsonl import atomic_write, read_json
from kecpm.data.schema import Post
from kecpm.model.config import ModelConfig

if TYPE_CHECKING:
    from kecpm.model.model import PromptModel

PIPELINE_FILE = "pipeline.json"
ENTITY_OPTIONS = ("entity_threshold",)  # decoding options that belong to the entity model


def write_pipeline_folder(directory: str | Path, entity_dir: str | Path, relation_dir: str | Path) -> None:
    """Make ``directory`` a pipeline folder over the two saved model folders (referenced by relative path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rel = {k: Path(os.path.relpath(Path(v).resolve(), directory.resolve())).as_posix()
           for k, v in (("entity", entity_dir), ("relation", relation_dir))}
    for k, v in rel.items():
        if not (directory / v / "config.json").exists():
            raise FileNotFoundError(f"{directory / v}: not a saved model (no config.json) for the pipeline's {k} model")
    with atomic_write(directory / "config.json") as fh:  # the relation model's options, for code that reads them
        fh.write((Path(relation_dir) / "config.json").read_text(encoding="utf-8"))
    with atomic_write(directory / PIPELINE_FILE) as fh:
        json.dump({"kind": "pipeline", **rel}, fh, indent=2)
        fh.write("\n")
    from kecpm.model.card import write_card

    write_card(directory)


def read_spec(directory: str | Path) -> dict[str, str]:
    """A pipeline folder's ``pipeline.json``: the entity and relation model folders, relative to it."""
    spec = read_json(Path(directory) / PIPELINE_FILE)
    if not isinstance(spec, dict) or not {"entity", "relation"} <= set(spec):
        raise ValueError(f"{Path(directory) / PIPELINE_FILE}: expected the keys entity and relation")
    return spec


def is_pipeline(directory: str | Path) -> bool:
    return (Path(directory) / PIPELINE_FILE).exists()


class PipelineModel:
    """An entity model and a relation model behind the ``PromptModel`` prediction interface."""

    def __init__(self, entity: PromptModel, relation: PromptModel) -> None:
        self.entity, self.relation = entity, relation

    @property
    def config(self) -> ModelConfig:
        return self.relation.config

    @property
    def encoder(self) -> Any:  # the relation model's (e.g. ``encoder.visual`` for unreadable-image reports)
        return self.relation.encoder

    @property
    def warm_start_info(self) -> Any:
        return {"entity": self.entity.warm_start_info, "relation": self.relation.warm_start_info}

    def gate_openness(self) -> dict[str, float]:
        """The relation model's gates, and the entity model's as "entity_<gate>"."""
        return {**{f"entity_{k}": v for k, v in self.entity.gate_openness().items()}, **self.relation.gate_openness()}

    @torch.no_grad()
    def predict(self, posts: list[Post], batch_size: int = 32, found: list[Post] | None = None) -> list[Post]:
        """Entities from the entity model (with its scores), then the relation model's triples among them;
        ``found``: the entity model's predictions of ``posts`` when already made (their entities are used)."""
        if found is None:
            found = self.entity.predict(posts, batch_size)
        given = [dataclasses.replace(p, entities=f.entities, triples=[]) for p, f in zip(posts, found, strict=True)]
        return self.relation.predict(given, batch_size)

    def set_precision(self, precision: str) -> PipelineModel:
        self.entity.set_precision(precision)
        self.relation.set_precision(precision)
        return self

    def update_config(self, **changes: object) -> None:
        """Decoding changes: the entity threshold to the entity model, the others to the relation model."""
        ent = {k: v for k, v in changes.items() if k in ENTITY_OPTIONS}
        if ent:
            self.entity.update_config(**ent)
        if rest := {k: v for k, v in changes.items() if k not in ENTITY_OPTIONS}:
            self.relation.update_config(**rest)

    def to(self, device: str | torch.device) -> PipelineModel:
        self.entity.to(device)
        self.relation.to(device)
        return self

    def eval(self) -> PipelineModel:
        self.entity.eval()
        self.relation.eval()
        return self

    def save(self, directory: str | Path, card: dict[str, object] | None = None, copy_side: bool = False) -> None:
        """A self-contained pipeline folder: both models saved inside it."""
        directory = Path(directory)
        self.entity.save(directory / "entity", card, copy_side=copy_side)
        self.relation.save(directory / "relation", card, copy_side=copy_side)
        write_pipeline_folder(directory, directory / "entity", directory / "relation")

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> PipelineModel:
        from kecpm.model.model import PromptModel

        directory = Path(directory)
        spec = read_spec(directory)
        return cls(PromptModel.load(directory / spec["entity"], device), PromptModel.load(directory / spec["relation"], device))
