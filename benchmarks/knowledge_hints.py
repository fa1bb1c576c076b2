"""How good are a knowledge source's entity hints? For the test posts of each split folder given, the
spans of the post that its knowledge names (``kecpm.model.mentions``: normalised whole-word match,
the sentences the model reads after ``filter_knowledge``) against the gold entities.

    python benchmarks/knowledge_hints.py ../shared/data/fs-jmere/seed_17 fewshot_splits/mnre/K5/seed17

- recall: share of gold entities whose text the knowledge names;
- precision: share of the hinted spans (maximal spans of up to 4 words that the knowledge names and
  that look like names: a Capitalised / ALLCAPS / @ / # word first) that are exactly a gold entity;
  "overlap" counts a hinted span overlapping a gold entity as right.
Free-text knowledge carries no entity types, so types are not scored there. Knowledge written with
``gen-knowledge --format hints`` also gets a second table: its typed hints against the gold entities
by normalised text (precision / recall of the names, and of name + type). The source of each folder's
knowledge is printed (``kecpm.knowledge.knowledge_sources``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kecpm.data.folders import find_seed_splits
from kecpm.data.schema import Post
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, knowledge_sources, read_records
from kecpm.model.layout import relevant_sentences
from kecpm.model.mentions import named_in, normalise
from kecpm.model.shapes import name_like


def hinted_spans(tokens: list[str], sentences: list[str], max_words: int = 4) -> set[tuple[int, int]]:
    """Maximal spans named in ``sentences`` whose first word looks like a name."""
    name = name_like(tokens)
    spans = [(i, j) for i in range(len(tokens)) for j in range(i + 1, min(len(tokens), i + max_words) + 1) if name[i]]
    named = {sp for sp, hit in zip(spans, named_in(sentences, tokens, spans), strict=True) if hit}
    return {(i, j) for i, j in named if not any(a <= i and j <= b and (a, b) != (i, j) for a, b in named)}


def test_posts(folder: Path) -> tuple[list[Post], list[dict] | None]:
    """The first seed's test posts with the folder's knowledge (and hints) attached, and its records."""
    split = find_seed_splits(folder)[0]
    posts = split.read("test")
    records = read_records(split.knowledge) if split.knowledge else None
    if records is not None:
        posts = attach_knowledge(posts, knowledge_map(records), hints=hints_map(records))
    return posts, records


def figures(folder: Path, posts: list[Post], records: list[dict] | None) -> dict[str, float | str]:
    gold_n = named = hinted = exact = overlap = 0
    for p in posts:
        sentences = [normalise(s) for s in relevant_sentences(p.knowledge or [], p.tokens)]
        gold = {(e.start, e.end) for e in p.with_entities_from_triples().entities}
        gold_n += len(gold)
        named += sum(bool(x) for x in named_in(sentences, p.tokens, sorted(gold)))
        hints = hinted_spans(p.tokens, sentences)
        hinted += len(hints)
        exact += len(hints & gold)
        overlap += sum(any(i < b and a < j for a, b in gold) for i, j in hints)
    src = knowledge_sources(records) if records is not None else {"posts' own": len(posts)}
    return {"folder": str(folder), "source": ", ".join(f"{k} ({v})" for k, v in src.items()), "posts": len(posts),
            "gold": gold_n, "recall": 100 * named / max(gold_n, 1), "hinted": hinted,
            "precision": 100 * exact / max(hinted, 1), "overlap": 100 * overlap / max(hinted, 1)}


def typed_figures(folder: Path, posts: list[Post]) -> dict[str, float | str] | None:
    """Typed hints (``knowledge.format=hints``) of the test posts against the gold entities, by
    normalised text; None when the folder's knowledge has no hints."""
    if all(p.hints is None for p in posts):
        return None
    n_hint = n_gold = names = typed = 0
    for p in posts:
        gold = {normalise(e.text or p.span_text(e.start, e.end)): e.type for e in p.with_entities_from_triples().entities}
        said = {}
        for h in p.hints or []:
            said.setdefault(normalise(h.entity), h.type)
        n_hint, n_gold = n_hint + len(said), n_gold + len(gold)
        names += len(said.keys() & gold.keys())
        typed += sum(gold[k] == t for k, t in said.items() if k in gold)
    return {"folder": str(folder), "hints": n_hint, "gold": n_gold,
            "name_p": 100 * names / max(n_hint, 1), "name_r": 100 * names / max(n_gold, 1),
            "typed_p": 100 * typed / max(n_hint, 1), "typed_r": 100 * typed / max(n_gold, 1),
            "type_acc": 100 * typed / max(names, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="split folders (their first seed's test posts)")
    args = ap.parse_args()
    print("| folder | knowledge source | test posts | gold entities | recall % | hinted spans | precision % "
          "| overlap precision % |\n|---|---|---|---|---|---|---|---|")
    typed = []
    for folder in args.folders:
        posts, records = test_posts(folder)
        f = figures(folder, posts, records)
        t = typed_figures(folder, posts)
        typed += [t] if t is not None else []
        print(f"| {f['folder']} | {f['source']} | {f['posts']} | {f['gold']} | {f['recall']:.1f} | {f['hinted']} "
              f"| {f['precision']:.1f} | {f['overlap']:.1f} |")
    if typed:
        print("\n| folder (typed hints) | hints | gold entities | name precision % | name recall % | name + type "
              "precision % | name + type recall % | type right when the name is % |\n|---|---|---|---|---|---|---|---|")
        for t in typed:
            print(f"| {t['folder']} | {t['hints']} | {t['gold']} | {t['name_p']:.1f} | {t['name_r']:.1f} "
                  f"| {t['typed_p']:.1f} | {t['typed_r']:.1f} | {t['type_acc']:.1f} |")


if __name__ == "__main__":
    main()
