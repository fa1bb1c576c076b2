"""Warm start: a new model takes the encoder and the span head of a trained kecpm model.

Typical use: an MNER model trained on the public Twitter-2015/2017 NER data (``kecpm
pretrain-entities``) starts a few-shot JMERE model, whose relation head starts fresh. Copied when
present in both: the text encoder, the word-shape vectors, the soft prompt (same length), the span
width embedding and the span head (its "none" label and every entity type mapped by name). Entity
types are matched by ``map_type`` (``PER -> per``, ``OTHER``/``MISC -> misc``, otherwise the lower-cased
name) unless the type map says otherwise; a source type with no match is an error naming it. The source's
weights are fingerprinted (``sha256``, recorded in results.json): two runs of the same command on two
machines may start from two ``pretrain-entities`` models that score alike but differ in their weights, and
``kecpm compare`` warns when the two sides started from different ones.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from kecpm.config import ConfigError
from kecpm.data.labels import map_type

if TYPE_CHECKING:
    from kecpm.model.model import PromptModel

log = logging.getLogger(__name__)


def _copy(dst: torch.Tensor, src: torch.Tensor, what: str) -> None:
    if dst.shape != src.shape:
        raise ConfigError(f"warm start: {what} has shape {tuple(src.shape)} in the source, {tuple(dst.shape)} here "
                          "(a different encoder or span head size)")
    dst.copy_(src)


@torch.no_grad()
def warm_start(model: PromptModel, source_dir: str | Path, type_map: dict[str, str] | None = None) -> dict[str, object]:
    """Copy encoder and span head weights from the saved model in ``source_dir`` into ``model``;
    returns what was copied (recorded in results.json)."""
    from kecpm.model.folder import has_heads, state_sha256
    from kecpm.model.model import PromptModel
    from kecpm.packaged import model_folder

    source_dir = model_folder(source_dir)  # a local folder or an HF hub id
    if not (source_dir / "config.json").exists() or not has_heads(source_dir):
        raise ConfigError(f"--init-from {source_dir}: not a kecpm model folder (needs config.json and "
                          "heads.safetensors or heads.pt, "
                          "e.g. runs/<name>/seed17/model or the folder `kecpm pretrain-entities` prints)")
    src = PromptModel.load(source_dir)
    s_state, d_state = src.encoder.text.state_dict(), model.encoder.text.state_dict()
    if s_state.keys() != d_state.keys():
        raise ConfigError(f"warm start: {source_dir} was trained with another encoder architecture")
    for k, v in s_state.items():
        _copy(d_state[k], v, f"encoder weight {k}")
    copied = ["encoder"]
    enc, senc = model.encoder, src.encoder
    if enc.shapes is not None and senc.shapes is not None:
        enc.shapes.copy_(senc.shapes)
        copied.append("word shapes")
    if enc.soft is not None and senc.soft is not None and enc.soft.vectors.shape == senc.soft.vectors.shape:
        enc.soft.vectors.copy_(senc.soft.vectors)
        copied.append("soft prompt")
    n = min(len(model.spans.width.weight), len(src.spans.width.weight))
    model.spans.width.weight[:n] = src.spans.width.weight[:n]
    mapping: dict[str, str] = {}
    span, sspan = model.head("span"), src.head("span")
    if span is not None and sspan is not None:
        targets = list(model.labels.entity_types)
        for s_type in src.labels.entity_types:
            t_type = map_type(s_type, targets, type_map or {})
            if t_type is not None:
                mapping[s_type] = t_type
        dv, sv = span.verbalizer, sspan.verbalizer
        for name, p in sv.proj.state_dict().items():
            _copy(dv.proj.state_dict()[name], p, f"span head {name}")
        rows = [(0, 0)] + [(targets.index(t) + 1, src.labels.entity_types.index(s) + 1) for s, t in mapping.items()]
        for d, s in rows:
            dv.labels[d] = sv.labels[s]
            dv.bias[d] = sv.bias[s]
        copied.append("span head")
    log.info("warm start from %s: %s; entity types %s", source_dir, ", ".join(copied),
             ", ".join(f"{s}->{t}" for s, t in mapping.items()) or "-")
    return {"from": str(source_dir), "copied": copied, "type_map": mapping, "sha256": state_sha256(src)}
