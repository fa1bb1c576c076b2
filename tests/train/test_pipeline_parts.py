"""kecpm.train.pipeline: the two models' configs and training settings of a pipeline."""

from __future__ import annotations

import pytest

from kecpm.config import ConfigError
from kecpm.model.config import ModelConfig
from kecpm.model.tasks import Task
from kecpm.train.config import TrainConfig
from kecpm.train.pipeline import part_args, part_configs


def test_inline_knowledge_goes_only_to_the_models_named():
    both = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=128))
    entity = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=128, inline_knowledge_in="entity"))
    relation = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=128, inline_knowledge_in=" relation"))
    assert [c.inline_knowledge_tokens for c in both.values()] == [128, 128]
    assert [c.inline_knowledge_tokens for c in entity.values()] == [128, 0]
    assert [c.inline_knowledge_tokens for c in relation.values()] == [0, 128]
    assert (entity["entity"].task, entity["relation"].task) == (Task.MNER, Task.MRE)
    # a part's config does not carry the option, so the entity model of "entity" is the one of "entity,relation"
    # (an earlier run's entity model is reused), and the relation model of "entity" the one without inline knowledge
    assert entity["entity"] == both["entity"]
    assert entity["relation"] == part_configs(ModelConfig(pipeline=True))["relation"]


@pytest.mark.parametrize("value", ["", "entity,span", "relations"])
def test_an_unknown_part_is_one_clear_error(value):
    with pytest.raises(ConfigError, match="inline_knowledge_in"):
        ModelConfig(pipeline=True, inline_knowledge_in=value)


def test_the_entity_epochs_go_to_the_entity_model_only():
    args = part_args(TrainConfig(epochs=15, entity_epochs=25, seed=2))
    assert (args["entity"].epochs, args["relation"].epochs) == (25, 15)
    assert args["entity"].entity_epochs == args["relation"].entity_epochs == 0  # neither part's run carries it
    # the relation model is the one of the pipeline without the option (a finished one is reused)
    assert args["relation"] == part_args(TrainConfig(epochs=15, seed=2))["relation"]
    assert part_args(TrainConfig(epochs=15))["entity"].epochs == 15
    with pytest.raises(ConfigError, match="entity_epochs"):
        TrainConfig(entity_epochs=-1)


def test_inline_shapes_need_word_shapes_and_inline_knowledge_and_stay_in_their_part():
    for bad in ({"word_shapes": False, "inline_knowledge_tokens": 64}, {"inline_knowledge_tokens": 0}):
        with pytest.raises(ConfigError, match="inline_knowledge_shapes"):
            ModelConfig(inline_knowledge_shapes=True, **bad)
    parts = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64, inline_knowledge_shapes=True,
                                     inline_knowledge_in="entity"))
    assert parts["entity"].inline_knowledge_shapes and not parts["relation"].inline_knowledge_shapes
    # the relation model is the one without the option (a finished one is reused)
    assert parts["relation"] == part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64,
                                                         inline_knowledge_in="entity"))["relation"]


def test_inline_dropout_stays_in_the_inline_part_and_is_checked():
    for bad in (1.0, -0.5, 2.0):
        with pytest.raises(ConfigError, match="inline_knowledge_dropout"):
            ModelConfig(inline_knowledge_dropout=bad)
    parts = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64, inline_knowledge_dropout=0.0,
                                     inline_knowledge_in="entity", knowledge_dropout=0.2))
    assert [parts[p].inline_dropout for p in ("entity", "relation")] == [0.0, 0.2]
    # the relation model is the one trained without the option (reused by pipelines that differ only in it)
    assert parts["relation"] == part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64, knowledge_dropout=0.2,
                                                         inline_knowledge_in="entity"))["relation"]
    assert ModelConfig(knowledge_dropout=0.2).inline_dropout == 0.2


@pytest.mark.parametrize("option, value", [("inline_knowledge_segment", True),
                                           ("inline_knowledge_sentence_dropout", 0.2)])
def test_inline_options_stay_in_the_inline_part(option, value):
    """The relation model is the one a pipeline without the option trains (so a benchmark can reuse it)."""
    parts = part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64, inline_knowledge_in="entity",
                                     **{option: value}))
    assert getattr(parts["entity"], option) == value
    assert parts["relation"] == part_configs(ModelConfig(pipeline=True, inline_knowledge_tokens=64,
                                                         inline_knowledge_in="entity"))["relation"]


def test_knowledge_posts_go_to_the_entity_model_only():
    args = part_args(TrainConfig(epochs=15, knowledge_posts="clean", seed=2))
    assert (args["entity"].knowledge_posts, args["relation"].knowledge_posts) == ("clean", "off")
    assert args["relation"] == part_args(TrainConfig(epochs=15, seed=2))["relation"]  # a finished one is reused


def test_relation_negatives_go_to_the_relation_model_only():
    parts = part_configs(ModelConfig(pipeline=True, relation_negatives=2))
    assert (parts["entity"].relation_negatives, parts["relation"].relation_negatives) == (0, 2)
    # the entity model is the one of the pipeline without negatives (a finished one is reused)
    assert parts["entity"] == part_configs(ModelConfig(pipeline=True))["entity"]
