"""model.knowledge_hints: which spans a hint types, the learned trust per type, training, save/load."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.data.schema import Hint, Post, schema_from_posts
from kecpm.knowledge.hints import hint_sentence
from kecpm.model.config import ModelConfig
from kecpm.model.hints import hint_types
from kecpm.model.model import PromptModel

TYPES = ["loc", "misc", "org", "per"]
OPTIONS = {"use_image": False, "knowledge_hints": True, "soft_prompt_tokens": 2}


def test_hint_types_match_normalised_text_first_hint_wins():
    toks = ["RT", "@CNN", ":", "TAYLOR", "swift", "and", "#CalvinHarris", "at", "the", "Grammys", "!"]
    hints = [Hint("cnn", "org"), Hint("Taylor Swift", "per"), Hint("taylor swift", "org"), Hint("Calvin Harris", "per"),
             Hint("CalvinHarris", "per"), Hint("Grammys", "event"), Hint("Grammys", "misc"), Hint("@", "loc")]
    spans = [(1, 2), (3, 5), (3, 4), (6, 7), (9, 10), (2, 3), (10, 11), (0, 1)]
    assert hint_types(hints, toks, spans, TYPES) == [3, 4, 0, 4, 2, 0, 0, 0]
    assert hint_types([], toks, spans, TYPES) == [0] * len(spans)
    assert hint_types(hints, toks, [(1, 2)], ["per"]) == [0]  # a type the model does not know


def _with_hints(posts: list[Post]) -> list[Post]:
    """The tiny posts with a hint per gold entity (every third one mistyped), knowledge one sentence per
    hint as stage 1 writes it; the third post keeps no knowledge and no hints."""
    out = []
    for i, p in enumerate(posts):
        if i == 2:
            out.append(replace(p, knowledge=None, hints=None))
            continue
        hints = [Hint(e.text, TYPES[(TYPES.index(e.type) + 1) % 4] if j % 3 == 2 else e.type, "well known.")
                 for j, e in enumerate(p.entities)]
        out.append(replace(p, knowledge=[hint_sentence(h) for h in hints], hints=hints))
    return out


def test_hint_vectors_start_at_zero_and_follow_the_knowledge_rule(make_model, tiny_posts):
    posts = _with_hints(tiny_posts)
    model = make_model(**OPTIONS).eval()
    assert model.spans.hint.weight.shape == (len(model.labels.entity_types) + 1, model.spans.dim)
    views = model.views(posts)
    assert views[0].hints == posts[0].hints and views[2].hints == []  # no knowledge: no hints seen
    spans = torch.tensor([(0, 2), (2, 3), (3, 5)])
    with torch.no_grad():
        before = model.spans(views[0].words, spans, views[0])
        assert torch.equal(before, model.spans(views[0].words, spans))  # zero at initialisation
        model.spans.hint.weight[1:].fill_(1.0)
        after = model.spans(views[0].words, spans, views[0])
    assert (after != before).any(-1).tolist() == [True, False, True]  # Barack Obama, Angela Merkel
    hidden = [replace(p, knowledge=None) for p in posts[:2]]  # hints without visible knowledge are not read
    assert all(v.hints == [] for v in model.views(hidden))
    dropped = make_model(**OPTIONS, knowledge_dropout=0.999).train()  # knowledge dropped: hints dropped too
    assert all(v.hints == [] for v in dropped.views(posts))
    assert make_model(use_image=False).spans.hint is None


def test_training_step_reaches_the_hint_vectors_and_save_load_is_identical(make_model, tiny_posts, tmp_path):
    posts = _with_hints(tiny_posts)
    model = make_model(**OPTIONS, knowledge_dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt.zero_grad()
    model.loss(posts).backward()
    grad = model.spans.hint.weight.grad
    assert grad is not None and grad[1:].abs().sum() > 0 and grad[0].abs().sum() == 0  # row 0 = no hint
    opt.step()
    opt.zero_grad()
    model.loss(posts).backward()
    opt.step()
    assert model.spans.hint.weight[1:].abs().sum() > 0
    model.eval().save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["knowledge_hints"] is True
    loaded = PromptModel.load(tmp_path / "m")
    assert torch.equal(loaded.spans.hint.weight, model.spans.hint.weight)
    bare = [replace(p, hints=None) for p in posts]  # posts without hints work with the option on
    with torch.no_grad():
        assert torch.equal(model.loss(posts), loaded.loss(posts))
        assert model.loss(posts) != model.loss(bare)
    for batch in (posts, bare):
        a, b = model.predict(batch), loaded.predict(batch)
        assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert model.predict(posts)[0].hints == posts[0].hints  # predictions keep their input's hints
    # a warm start from it: encoder and span head copied, the hint trust starts at zero again
    cfg = ModelConfig(**schema_from_posts(tiny_posts), **OPTIONS, init_from=str(tmp_path / "m"))
    warm = PromptModel.create(cfg)
    assert "span head" in warm.warm_start_info["copied"] and not warm.spans.hint.weight.any()


def test_config_needs_knowledge_and_old_configs_load_without_hints(tmp_path, tiny_posts):
    schema = schema_from_posts(tiny_posts)
    with pytest.raises(ConfigError, match="knowledge_hints needs use_knowledge"):
        ModelConfig(**schema, knowledge_hints=True, use_knowledge=False)
    saved = ModelConfig(**schema).to_dict()
    del saved["knowledge_hints"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert ModelConfig.load(tmp_path / "config.json").knowledge_hints is False
    assert ModelConfig.SAVED_DEFAULTS["knowledge_hints"] is False and ModelConfig().knowledge_hints is False
