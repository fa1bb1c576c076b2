"""kecpm.model.shapes: word shapes and the runs of name-like words."""

from __future__ import annotations

from kecpm.data.jmere import read_jmere
from kecpm.model.shapes import name_like, name_runs


def test_name_runs_are_maximal_runs_of_names_up_to_a_width():
    tokens = ["RT", "@CNN", ":", "Taylor", "Swift", "and", "#Grammys", "New", "York", "City", "Big", "Apple", "in", "LA"]
    assert name_like(tokens)[:3] == [False, True, False]  # "RT" is the retweet marker, never a name
    assert name_runs(tokens, 4) == [(1, 2), (3, 5), (13, 14)]  # the 6-word run is longer than 4: left out
    assert name_runs(tokens, 6) == [(1, 2), (3, 5), (6, 12), (13, 14)]
    assert name_runs([], 4) == [] and name_runs(["all", "lower", "case"], 4) == []


def test_name_runs_cover_most_gold_entities_of_real_posts(shared_data):
    """On the paper's seed-17 training posts most gold entities are exactly a run, and the runs overlapping no gold
    entity (a pipeline relation model's negatives) are about two per post."""
    posts = [p.with_entities_from_triples() for p in read_jmere(shared_data / "fs-jmere" / "seed_17" / "train.json")]
    exact = outside = gold = 0
    for post in posts:
        spans = {(e.start, e.end) for e in post.entities}
        runs = name_runs(post.tokens, 4)
        assert all(all(name_like(post.tokens)[a:b]) for a, b in runs)
        gold += len(spans)
        exact += len(spans & set(runs))
        outside += sum(all(b <= s or a >= e for s, e in spans) for a, b in runs)
    assert (len(posts), gold, exact, outside) == (246, 535, 437, 552)
