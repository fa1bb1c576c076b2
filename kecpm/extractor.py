"""The Python API: raw text in, entities and triples out, with offsets and confidences.

    from kecpm import Extractor

    extractor = Extractor.from_pretrained("runs/mnre-K5/seed17/model")   # a folder or an HF hub id
    post = extractor.predict("Elon Musk, CEO of @Tesla, visits Berlin!")
    for t in post.triples:
        print(t.head.text, t.relation, t.tail.text, t.score)

Texts are split by the tweet-aware tokenizer (``kecpm.data.tokenize``); every span carries its
character offsets ``[start, end)`` into the text and its token offsets ``[token_start, token_end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from kecpm.data.schema import Entity, Post, Triple

if TYPE_CHECKING:
    import torch

    from kecpm.data.tokenize import Token
    from kecpm.model.model import PromptModel


@dataclass(frozen=True)
class Span:
    """An entity: its text as written, type, character and token offsets (end exclusive), confidence."""

    text: str
    type: str
    start: int
    end: int
    token_start: int
    token_end: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "type": self.type, "start": self.start, "end": self.end,
                "token_start": self.token_start, "token_end": self.token_end, "score": self.score}


@dataclass(frozen=True)
class Relation:
    """A triple: head entity, relation, tail entity (direction matters), confidence."""

    head: Span
    relation: str
    tail: Span
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"head": self.head.to_dict(), "relation": self.relation, "tail": self.tail.to_dict(),
                "score": self.score}


@dataclass
class Prediction:
    """What the model found in one text; ``image_warning`` says why a given image was not used."""

    id: str
    text: str
    tokens: list[str]
    entities: list[Span] = field(default_factory=list)
    triples: list[Relation] = field(default_factory=list)
    image_warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "tokens": self.tokens,
                "entities": [e.to_dict() for e in self.entities],
                "triples": [t.to_dict() for t in self.triples], "image_warning": self.image_warning}


def span(entity: Entity, text: str, tokens: Sequence[Token]) -> Span:
    """``entity`` (token offsets into ``tokens``) with character offsets into ``text``."""
    start, end = tokens[entity.start].start, tokens[entity.end - 1].end
    return Span(text[start:end], entity.type, start, end, entity.start, entity.end, entity.score)


def to_prediction(post: Post, text: str, tokens: Sequence[Token], image_warning: str | None = None) -> Prediction:
    """A predicted post as a ``Prediction`` over its original ``text``."""
    def rel(t: Triple) -> Relation:
        return Relation(span(t.head, text, tokens), t.relation, span(t.tail, text, tokens), t.score)

    return Prediction(post.id, text, list(post.tokens), [span(e, text, tokens) for e in post.entities],
                      [rel(t) for t in post.triples], image_warning)


def _per_post(value: Any, n: int, name: str, single: bool) -> list[Any]:
    if value is None:
        return [None] * n
    if single:
        return [value]
    if isinstance(value, str | Path) or len(value) != n:
        raise ValueError(f"{name}: give one entry per text ({n}), or None")
    return list(value)


class Extractor:
    """A trained kecpm model behind a text-in, triples-out interface."""

    def __init__(self, model: PromptModel, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device = "cpu",
                        batch_size: int = 32, precision: str = "fp32") -> Extractor:
        """Load a model folder (``kecpm train`` writes ``runs/<run>/seed<s>/model``) or an HF hub id of
        one; ``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; ``precision``: fp32, bf16 or int8
        (kecpm.model.precision)."""
        from kecpm.device import resolve_device
        from kecpm.model.model import PromptModel
        from kecpm.packaged import model_folder

        where = resolve_device(device) if isinstance(device, str) else device
        model = PromptModel.load(model_folder(name_or_path), device=where).set_precision(precision)
        return cls(model, batch_size)

    def save_pretrained(self, directory: str | Path, copy_side: bool = False) -> None:
        """Write the model folder (loadable again with ``from_pretrained``). The frozen side reader is saved
        as a reference to its pretrained source where that can be found again; ``copy_side`` saves its
        weights instead (for a folder that must load on machines without that source)."""
        self.model.save(directory, copy_side=copy_side)

    @overload
    def predict(self, texts: str, images: str | Path | None = None, knowledge: Sequence[str] | None = None,
                captions: str | None = None) -> Prediction: ...

    @overload
    def predict(self, texts: Sequence[str], images: Sequence[str | Path | None] | None = None,
                knowledge: Sequence[Sequence[str] | None] | None = None,
                captions: Sequence[str | None] | None = None) -> list[Prediction]: ...

    def predict(self, texts: Any, images: Any = None, knowledge: Any = None,
                captions: Any = None) -> Prediction | list[Prediction]:
        """Entities and triples of one text (a ``Prediction``) or of each text of a list; optional per
        text: an image file, knowledge sentences, an image caption. An image that cannot be read is a
        warning and the model's no-image vector (see ``Prediction.image_warning``)."""
        from kecpm.data.inputs import post_from_text

        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        imgs, know, caps = (_per_post(v, len(items), name, single) for v, name in
                            ((images, "images"), (knowledge, "knowledge"), (captions, "captions")))
        built = [post_from_text(t, {"image_path": str(i) if i else None, "knowledge": k, "caption": c})
                 for t, i, k, c in zip(items, imgs, know, caps, strict=True)]
        preds = self.model.predict([p for p, _ in built], self.batch_size)
        visual = self.model.encoder.visual
        bad = visual.unreadable if visual is not None else {}
        out = [to_prediction(p, t, toks, bad.get(p.id)) for p, t, (_, toks) in zip(preds, items, built, strict=True)]
        return out[0] if single else out
