"""model.pipeline: an entity model and a relation model behind one prediction interface."""

from __future__ import annotations

import pytest

from kecpm.config import ConfigError
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.model.pipeline import PipelineModel, write_pipeline_folder

LOW = {"entity_threshold": 0.999}  # an untrained span head: let most spans through so that pairs exist


@pytest.fixture()
def pipeline(make_model, tiny_posts) -> PipelineModel:
    entity = make_model(task="mner", use_image=False).eval()
    entity.update_config(**LOW)
    return PipelineModel(entity, make_model(task="mre", use_image=False, min_triples=1).eval())


def test_the_relation_model_relates_the_entity_models_entities(pipeline, tiny_posts):
    found = pipeline.entity.predict(tiny_posts)
    preds = pipeline.predict(tiny_posts)
    assert sum(len(p.triples) for p in preds) > 0
    for p, f in zip(preds, found, strict=True):
        spans = {(e.start, e.end, e.type): e.score for e in f.entities}
        assert {(e.start, e.end, e.type): e.score for e in p.entities} == spans  # its entities, with its scores
        assert all((a.start, a.end, a.type) in spans for t in p.triples for a in (t.head, t.tail))


def test_a_saved_pipeline_loads_as_one_model_and_predicts_the_same(pipeline, tiny_posts, tmp_path):
    pipeline.save(tmp_path / "pipe")
    loaded = PromptModel.load(tmp_path / "pipe")
    assert isinstance(loaded, PipelineModel) and loaded.config.task.value == "mre"
    assert [p.to_dict() for p in loaded.predict(tiny_posts)] == [p.to_dict() for p in pipeline.predict(tiny_posts)]
    loaded.update_config(entity_threshold=0.01, min_triples=0)  # each option to the model it belongs to
    assert loaded.entity.config.entity_threshold == 0.01 and loaded.relation.config.min_triples == 0
    assert not any(p.entities for p in loaded.predict(tiny_posts))


def test_bad_pipelines_are_refused(tmp_path, make_model):
    with pytest.raises(ConfigError, match="pipeline"):
        ModelConfig(task="mner", pipeline=True)
    make_model(task="mner", use_image=False).save(tmp_path / "entity")
    with pytest.raises(FileNotFoundError, match="relation"):
        write_pipeline_folder(tmp_path / "pipe", tmp_path / "entity", tmp_path / "nowhere")


def test_a_pipeline_folder_has_its_own_card(pipeline, tmp_path):
    from kecpm.model.card import write_card

    pipeline.save(tmp_path / "pipe")
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "# kecpm model: jmere (pipeline)" in card
    assert "entity model (task `mner`): `entity`" in card and "relation model (task `mre`" in card
    assert "`peer`" in card and "Test scores" not in card
    assert "# kecpm model: mner" in (tmp_path / "pipe" / "entity" / "README.md").read_text()  # each model its own
    write_card(tmp_path / "pipe", {"data": {"train_seed": 2}, "test": {"rel_strict_f1": 0.4238, "entity_f1": 0.7498}})
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "- train seed: `2`" in card and "| 42.4 | 75.0 |" in card
