"""Heads: each owns its loss and its decoding (see ``base.Head``). Adding a head is its own file plus
one line in ``HEADS``; a task (``kecpm.model.tasks``) lists the heads it runs."""

from __future__ import annotations

from kecpm.model.heads.base import (
    EntitySet,
    Head,
    Labels,
    PostView,
    SpanFeatures,
    Verbalizer,
    enumerate_spans,
)
from kecpm.model.heads.relation import RelationHead, schema_mask
from kecpm.model.heads.span import SpanHead

HEADS: dict[str, type[Head]] = {
    "span": SpanHead,
    "relation": RelationHead,
}

__all__ = ["HEADS", "EntitySet", "Head", "Labels", "PostView", "RelationHead", "SpanFeatures", "SpanHead",
           "Verbalizer", "enumerate_spans", "schema_mask"]
