"""Micro P/R/F1 for entities and triples, macro F1, and a per-relation table.

- ``entity``: span + type. Gold entities are every post's ``entities`` plus its triple arguments.
- ``rel_strict`` (the headline JMERE figure): head span + type, relation, tail span + type.
- ``rel_boundary``: head span, relation, tail span (types ignored).
Direction matters. With ``match="name"`` an entity is its lower-cased text instead of its span,
for outputs that carry no offsets. Posts are aligned by ``id``; a gold post with no prediction
counts as predicting nothing.

Macro F1 is the mean per-relation rel-strict F1 over either the relations present in gold
(``over="gold"``, ``macro_f1``) or every relation of the schema, an absent one counting as F1 0
(``over="all"``, ``macro_f1_all``, as the paper's code averages over the 21 relations of JMERE).
All figures here are fractions in [0, 1]; the CLI prints them in percent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kecpm.data.errors import DataError
from kecpm.data.schema import RELATIONS, Entity, Post, validate_post

MATCHES = ("span", "name")
MACRO = ("gold", "all")


@dataclass
class PRF:
    """Counts and the precision, recall and F1 they give (in [0, 1])."""

    tp: int = 0
    n_pred: int = 0
    n_gold: int = 0

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: set[Any], pred: set[Any]) -> None:
        self.tp += len(gold & pred)
        self.n_gold += len(gold)
        self.n_pred += len(pred)

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "tp": self.tp, "n_pred": self.n_pred, "n_gold": self.n_gold}


@dataclass
class Scores:
    entity: PRF = field(default_factory=PRF)
    rel_strict: PRF = field(default_factory=PRF)
    rel_boundary: PRF = field(default_factory=PRF)
    per_relation: dict[str, PRF] = field(default_factory=dict)
    relations: tuple[str, ...] = RELATIONS  # the schema ``macro(over="all")`` averages over

    def macro(self, over: str = "gold") -> float:
        """Mean rel-strict F1 over the relations present in gold (``gold``) or over every relation of the
        schema, one never seen counting as 0 (``all``)."""
        if over == "gold":
            f1s = [s.f1 for s in self.per_relation.values() if s.n_gold]
            return sum(f1s) / len(f1s) if f1s else 0.0
        if over == "all":
            f1s = [self.per_relation[r].f1 if r in self.per_relation else 0.0 for r in self.relations]
            return sum(f1s) / len(f1s) if f1s else 0.0
        raise ValueError(f"unknown macro average over {over!r}; expected one of {', '.join(MACRO)}")

    @property
    def macro_f1(self) -> float:
        """Mean rel-strict F1 over the relations present in gold."""
        return self.macro("gold")

    @property
    def macro_f1_all(self) -> float:
        """Mean rel-strict F1 over every relation of the schema (absent ones count as 0)."""
        return self.macro("all")

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity.to_dict(),
            "rel_strict": self.rel_strict.to_dict(),
            "rel_boundary": self.rel_boundary.to_dict(),
            "macro_f1": self.macro_f1,
            "macro_f1_all": self.macro_f1_all,
            "per_relation": {k: v.to_dict() for k, v in sorted(self.per_relation.items())},
        }


def _key(e: Entity, post: Post, match: str, typed: bool) -> tuple[Any, ...]:
    where: tuple[Any, ...]
    if match == "name":
        where = ((e.text or post.span_text(e.start, e.end)).strip().lower(),)
    else:
        where = (e.start, e.end)
    return (*where, e.type) if typed else where


def _entities(post: Post) -> Iterable[Entity]:
    yield from post.entities
    for t in post.triples:
        yield t.head
        yield t.tail


def free_form_post(obj: dict[str, Any]) -> Post:
    """A predicted post for ``match="name"`` (free-form output, e.g. an LLM's): its structure is checked,
    its labels and spans are not, so a relation or entity type outside the schema is kept and scores as
    a false positive instead of making the whole post a bad line."""
    post = Post.from_dict(obj)
    validate_post(post, entity_types=None, relations=None, spans=False)
    return post


def score(gold: list[Post], pred: list[Post], match: str = "span",
          relations: tuple[str, ...] = RELATIONS) -> Scores:
    """Score predictions against gold; raises DataError for predicted ids not in gold. ``relations``
    is the schema ``Scores.macro(over="all")`` averages over. Predicted labels are not checked here:
    one outside the schema matches no gold item (a false positive)."""
    if match not in MATCHES:
        raise ValueError(f"unknown match {match!r}; expected one of {', '.join(MATCHES)}")
    for name, posts in (("gold", gold), ("predicted", pred)):
        dup = [pid for pid, n in Counter(p.id for p in posts).items() if n > 1]
        if dup:
            raise DataError(f"{len(dup)} {name} post id(s) occur more than once, e.g. {dup[0]}; "
                            "merge each post's triples into one record")
    by_id = {p.id: p for p in pred}
    unknown = sorted(set(by_id) - {g.id for g in gold})
    if unknown:
        raise DataError(f"{len(unknown)} predicted post id(s) not in gold, e.g. {unknown[0]}")
    s = Scores(relations=tuple(relations))
    for g in gold:
        p = by_id.get(g.id) or Post(g.id, g.tokens, g.img_id)
        s.entity.add({_key(e, g, match, True) for e in _entities(g)}, {_key(e, p, match, True) for e in _entities(p)})
        strict = [{(_key(t.head, x, match, True), t.relation, _key(t.tail, x, match, True)) for t in x.triples}
                  for x in (g, p)]
        s.rel_strict.add(*strict)
        s.rel_boundary.add(*[{(_key(t.head, x, match, False), t.relation, _key(t.tail, x, match, False))
                              for t in x.triples} for x in (g, p)])
        for rel in {k[1] for k in strict[0] | strict[1]}:
            s.per_relation.setdefault(rel, PRF()).add(
                {k for k in strict[0] if k[1] == rel}, {k for k in strict[1] if k[1] == rel})
    return s


