"""kecpm.train.knowledge_posts: knowledge sentences as entity-training posts, gold names projected onto them."""

from __future__ import annotations

import pytest

from kecpm.config import ConfigError
from kecpm.data.folders import find_seed_splits
from kecpm.data.schema import ENTITY_TYPES, Entity, Post, post_id
from kecpm.model.config import ModelConfig
from kecpm.model.mentions import span_name
from kecpm.model.tasks import Task
from kecpm.train.config import TrainConfig
from kecpm.train.knowledge_posts import knowledge_posts, sentence_tokens
from kecpm.train.run import sentence_posts


def _post(knowledge: list[str]) -> Post:
    tokens = "RT @RafaelNadal : with #MeryPerello in Mallorca".split()
    ents = [Entity(1, 2, "per", "@RafaelNadal"), Entity(4, 5, "per", "#MeryPerello"), Entity(6, 7, "loc", "Mallorca")]
    return Post(post_id("img", tokens), tokens, "img", caption="a man", knowledge=knowledge, entities=ents)


def test_a_possessive_is_split_from_its_name_and_punctuation_from_words():
    assert sentence_tokens("Mery Perello is RafaelNadal's girlfriend, in MALLORCA.") == [
        "Mery", "Perello", "is", "RafaelNadal", "'s", "girlfriend", ",", "in", "MALLORCA", "."]


def test_gold_names_are_found_without_at_hash_case_or_punctuation():
    post = _post(["RafaelNadal's girlfriend is MeryPerello.", "They live in MALLORCA, Spain.",
                  "Tennis is a sport.", "Nadal won in Paris."])
    clean = knowledge_posts([post], "clean", filter_knowledge=False)
    assert [" ".join(p.tokens) for p in clean] == ["RafaelNadal 's girlfriend is MeryPerello ."]
    assert [(e.text, e.type) for e in clean[0].entities] == [("RafaelNadal", "per"), ("MeryPerello", "per")]
    # "Spain" is no gold name: taught as a non-entity, so only "named" keeps that sentence; "Nadal" is no gold name
    named = knowledge_posts([post], "named", filter_knowledge=False)
    assert [" ".join(p.tokens) for p in named] == [" ".join(clean[0].tokens), "They live in MALLORCA , Spain ."]
    assert [(e.start, e.end, e.type) for e in named[1].entities] == [(3, 4, "loc")]
    new = named[1]
    assert (new.img_id, new.knowledge, new.caption, new.triples) == ("img", [], None, [])
    assert new.id == post_id("img", new.tokens) != post.id


def test_a_post_whose_knowledge_names_nothing_gives_no_post():
    assert knowledge_posts([_post(["Tennis is a sport."]), _post([])], "named", filter_knowledge=False) == []
    assert knowledge_posts([_post(["RafaelNadal plays."])], "off", filter_knowledge=False) == []


def test_an_unknown_mode_and_a_relation_model_are_clear_errors():
    with pytest.raises(ConfigError, match="knowledge_posts"):
        TrainConfig(knowledge_posts="all")
    args = TrainConfig(knowledge_posts="clean")
    with pytest.raises(ConfigError, match="entity models only"):
        sentence_posts([_post(["RafaelNadal plays."])], args, ModelConfig(task=Task.JMERE))
    assert len(sentence_posts([_post(["RafaelNadal plays."])], args, ModelConfig(task=Task.MNER))) == 1


def test_paper_split_sentences_carry_only_gold_names(shared_data):
    split = find_seed_splits(shared_data / "fs-jmere", [17])[0]
    train = split.read("train")  # the paper's ChatGPT knowledge comes with the posts
    clean = knowledge_posts(train, "clean", filter_knowledge=True)
    named = knowledge_posts(train, "named", filter_knowledge=True)
    assert 150 < len(clean) < len(named) < 3 * len(train)  # 194 and 490 of 246 posts
    gold = {span_name(p.tokens, e.start, e.end): e.type for p in train for e in p.with_entities_from_triples().entities}
    for post in named:
        for e in post.entities:
            assert e.type in ENTITY_TYPES and gold.get(span_name(post.tokens, e.start, e.end))
            assert post.tokens[e.start][0].isalnum() or post.tokens[e.start][0] in "@#"
            assert post.tokens[e.end - 1][-1].isalnum()
