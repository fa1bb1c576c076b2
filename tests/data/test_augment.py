"""Mention replacement (kecpm.data.augment) on real posts."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from kecpm.config import ConfigError
from kecpm.data.augment import MentionPool, augment, replace_mentions
from kecpm.data.readers import read_posts
from kecpm.data.schema import Entity, Post, Triple
from kecpm.train.config import TrainConfig

TYPES = ["loc", "misc", "org", "per"]


@pytest.fixture(scope="module")
def mnre(shared_data):
    return read_posts(shared_data / "fs-jmere" / "seed_17" / "train.json")[:30]


def test_replaced_posts_keep_contexts_types_and_triples(mnre):
    pool = MentionPool.from_posts(mnre, TYPES)
    post = next(p for p in mnre if p.triples)
    head = post.triples[0].head.text
    post = replace(post, knowledge=[f"{head} is in the news.", "Nothing named here."], caption=f"a photo of {head}")
    copy = replace_mentions(post, pool, random.Random(1))
    assert copy is not None and copy.id != post.id and copy.tokens != post.tokens
    for t_old, t_new in zip(post.triples, copy.triples, strict=True):
        assert (t_new.relation, t_new.head.type, t_new.tail.type) == (t_old.relation, t_old.head.type, t_old.tail.type)
        for e in (t_new.head, t_new.tail):
            assert " ".join(copy.tokens[e.start:e.end]) == e.text and tuple(e.text.split()) in pool.by_type[e.type]
    # the words outside the mentions are the same, in order
    outside = [w for i, w in enumerate(post.tokens) if not any(e.start <= i < e.end for e in post.entities)]
    kept = [w for i, w in enumerate(copy.tokens) if not any(e.start <= i < e.end for e in copy.entities)]
    assert outside == kept
    new = copy.triples[0].head.text  # the knowledge and caption name the new entity where they named the old one
    assert copy.knowledge == [f"{new} is in the news.", "Nothing named here."] and copy.caption == f"a photo of {new}"


def test_same_seed_same_copies_and_twitter_types_mapped(mnre, shared_data):
    pool = MentionPool.from_posts(read_posts(shared_data / "twitter2017" / "valid.txt"), TYPES)
    assert all(len(pool.by_type[t]) > 20 for t in TYPES)  # PER/LOC/ORG/OTHER mapped to ours
    a, b = augment(mnre, 2, pool, seed=3), augment(mnre, 2, pool, seed=3)
    assert [p.tokens for p in a] == [p.tokens for p in b]
    assert [p.tokens for p in a] != [p.tokens for p in augment(mnre, 2, pool, seed=4)]
    assert 50 <= len(a) <= 60


def test_posts_that_cannot_be_copied_and_bad_options():
    tokens = ["Ann", "Lee", "met", "Bob"]
    ann, lee, bob = Entity(0, 2, "per", "Ann Lee"), Entity(1, 2, "per", "Lee"), Entity(3, 4, "per", "Bob")
    pool = MentionPool({"per": [("Ann", "Lee"), ("Bob",)]})
    overlapping = Post("x", tokens, "x.jpg", entities=[ann, lee, bob])
    assert replace_mentions(overlapping, pool, random.Random(0)) is None
    assert replace_mentions(Post("y", tokens, "y.jpg"), pool, random.Random(0)) is None  # no entity
    lonely = Post("z", tokens, "z.jpg", triples=[Triple(ann, "peer", bob)])
    assert replace_mentions(lonely, MentionPool({"per": [("Ann", "Lee")]}), random.Random(0)) is None
    swapped = replace_mentions(lonely, pool, random.Random(0))
    assert swapped.tokens == ["Bob", "met", "Ann", "Lee"]  # the only other name of each
    with pytest.raises(ConfigError, match="augment must be >= 0"):
        TrainConfig(augment=-1)
    with pytest.raises(ConfigError, match="'EVENT' .* has no match"):
        MentionPool.from_posts([Post("e", ["Expo"], "e.jpg", entities=[Entity(0, 1, "EVENT", "Expo")])], TYPES)


def test_a_missing_pool_fails_before_a_run_writes_anything(mnre, tmp_path):
    from kecpm.model.config import ModelConfig
    from kecpm.train.run import train_seed

    args = TrainConfig(augment=1, augment_pool=str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError, match="missing.txt: file not found"):
        train_seed(mnre[:4], mnre[4:6], mnre[6:8], ModelConfig(), args, tmp_path / "run")
    assert not (tmp_path / "run").exists()
