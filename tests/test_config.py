"""Config overrides (`--set`) and loading configs saved before an option existed."""

from __future__ import annotations

import json

import pytest

from kecpm.config import ConfigError, parse_overrides
from kecpm.model.config import ModelConfig
from kecpm.train import TrainConfig


def test_parse_overrides_reads_json_values_and_plain_strings():
    sets = parse_overrides(["model.span_none_weight=0.5", "train.progress=false", "model.encoder=bert-base-cased",
                            "model.relations=[\"a\", \"b\"]"], ("model", "train"))
    assert sets == {"model": {"span_none_weight": 0.5, "encoder": "bert-base-cased", "relations": ["a", "b"]},
                    "train": {"progress": False}}


@pytest.mark.parametrize("item", ["span_none_weight=0.5", "model.x", "other.x=1", "model.=1"])
def test_parse_overrides_rejects_malformed_items(item):
    with pytest.raises(ConfigError, match="--set"):
        parse_overrides([item], ("model", "train"))


def test_override_validates_and_names_unknown_options():
    cfg = TrainConfig().override({"lr_gate": 0.05, "epochs": 3})
    assert (cfg.lr_gate, cfg.epochs) == (0.05, 3)
    with pytest.raises(ConfigError, match="lr_gat"):
        TrainConfig().override({"lr_gat": 0.05})
    with pytest.raises(ConfigError, match="learning rates"):
        TrainConfig().override({"lr_gate": 0.0})


def test_old_model_config_loads_with_the_behaviour_it_was_trained_with(tmp_path):
    data = ModelConfig().to_dict()
    del data["gate_per_dimension"], data["filter_knowledge"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    old = ModelConfig.load(tmp_path / "config.json")
    assert old.gate_per_dimension is False and old.filter_knowledge is False
    ModelConfig().save(tmp_path / "new.json")
    new = ModelConfig.load(tmp_path / "new.json")
    assert new.gate_per_dimension is True and new.filter_knowledge is True


def test_removed_options_load_when_off_and_are_refused_when_on(tmp_path):
    """Models saved while an option existed that was later removed load when it was off (as today's code
    behaves); one trained with it on is refused by name, not silently rebuilt without it."""
    saved = {**ModelConfig().to_dict(), "knowledge_in_text": False, "relation_negatives_detached": False}
    (tmp_path / "off.json").write_text(json.dumps(saved))
    assert ModelConfig.load(tmp_path / "off.json") == ModelConfig()
    (tmp_path / "on.json").write_text(json.dumps({**saved, "knowledge_in_text": True}))
    with pytest.raises(ConfigError, match="knowledge_in_text=True: option.s. removed"):
        ModelConfig.load(tmp_path / "on.json")
    with pytest.raises(ConfigError, match="unknown option"):
        ModelConfig.from_dict({"no_such_option": False})


def test_non_default_lists_only_changed_options():
    """Cache keys hash these: a new option with a default leaves every existing key alone."""
    from kecpm.model.config import ModelConfig
    from kecpm.train.config import TrainConfig

    assert TrainConfig().non_default() == {}
    assert TrainConfig(epochs=3, batch_size=16).non_default() == {"epochs": 3, "batch_size": 16}
    assert ModelConfig(task="mner", word_shapes=False).non_default() == {"task": "mner", "word_shapes": False}
    # a default that changed keeps old cache keys through the baseline of the old defaults
    assert ModelConfig(word_shapes=True).non_default({"word_shapes": False}) == {"word_shapes": True}
    assert ModelConfig(word_shapes=False).non_default({"word_shapes": False}) == {}
