"""Tasks select heads; heads own loss and decoding; old saved models still load."""

from __future__ import annotations

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.model.folder import LEGACY_KEYS, read_heads
from kecpm.model.heads import HEADS
from kecpm.model.model import PromptModel
from kecpm.model.tasks import TASKS, Task


def _fit(model, posts, steps=3):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        model.loss(posts).backward()
        opt.step()
    return model.eval()


def test_every_task_names_registered_heads():
    assert {t.value for t in Task} == {"jmere", "mner", "mre"}
    for spec in TASKS.values():
        assert spec.heads and all(h in HEADS for h in spec.heads)


def test_mner_model_has_only_the_span_head_and_predicts_no_triples(make_model, tiny_posts):
    model = make_model(task="mner")
    assert list(model.heads) == ["span"] and model.config.task_spec.metric == "entity_f1"
    assert model.knowledge_gates().keys() == {"gate"}  # no relation head, no pair reader
    preds = model.predict(tiny_posts)
    assert all(not p.triples for p in preds)


def test_mre_model_classifies_pairs_of_the_gold_entities(make_model, tiny_posts):
    model = _fit(make_model(task="mre"), tiny_posts)
    assert list(model.heads) == ["relation"]
    for gold, pred in zip(tiny_posts, model.predict(tiny_posts), strict=True):
        gold_spans = {(e.start, e.end) for e in gold.with_entities_from_triples().entities}
        assert {(e.start, e.end) for e in pred.entities} == gold_spans
        assert all((t.head.start, t.head.end) in gold_spans for t in pred.triples)


def test_unknown_task_is_a_config_error(tiny_posts):
    from kecpm.model.config import ModelConfig

    with pytest.raises(ConfigError, match="task.*not one of"):
        ModelConfig(task="ner")


def test_model_saved_by_the_earlier_build_loads_and_predicts_the_same(make_model, tiny_posts, tmp_path):
    model = _fit(make_model(), tiny_posts)
    model.save(tmp_path / "m")
    state, _ = read_heads(tmp_path / "m")
    (tmp_path / "m" / "heads.safetensors").unlink()  # the earlier build wrote heads.pt
    old_names = {v: k for k, v in LEGACY_KEYS.items()}
    legacy = {next((o + k[len(n):] for n, o in old_names.items() if k.startswith(n)), k): v for k, v in state.items()}
    assert "rel_head.verbalizer.labels" in legacy and "span_head.width.weight" in legacy
    torch.save(legacy, tmp_path / "m" / "heads.pt")
    loaded = PromptModel.load(tmp_path / "m")
    assert [p.to_dict() for p in loaded.predict(tiny_posts)] == [p.to_dict() for p in model.predict(tiny_posts)]


def test_parameter_groups_come_from_modules(make_model):
    model = make_model()
    groups = model.parameter_groups()
    assert {id(p) for p in groups["encoder"]} == {id(p) for p in model.encoder.text.parameters()}
    assert {id(p) for p in groups["gate"]} == {id(g) for g in model.knowledge_gates().values()}
    side = {id(p) for p in model.encoder.side.parameters()}
    assert not side & {id(p) for ps in groups.values() for p in ps}
