"""`kecpm predict`: lenient input, canonical JSONL output with scores, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jsonl import dumps_line, read_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel

TINY = Path(__file__).parent / "model" / "tiny_posts.jsonl"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    posts = read_jsonl(TINY)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(4):
        opt.zero_grad()
        model.loss(posts).backward()
        opt.step()
    path = tmp_path_factory.mktemp("model") / "model"
    model.save(path)
    return path


def test_predict_cli_skips_bad_lines_and_writes_canonical_jsonl(model_dir, tmp_path):
    posts = read_jsonl(TINY)
    lines = [dumps_line(posts[0].to_dict()),
             "{not json",
             json.dumps({"text": "Obama visits Paris with Merkel", "knowledge": ["Obama was president."]}),
             json.dumps({"img_id": "x.jpg"}),
             dumps_line(posts[1].to_dict())]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["predict", str(model_dir), str(inp), "--out", str(out), "--batch-size", "2"])
    assert res.exit_code == 0, res.output
    assert "in.jsonl:2" in res.output and "in.jsonl:4" in res.output
    assert "2 bad lines skipped" in res.output and "posts/s" in res.output
    preds = read_jsonl(out)
    assert [p.tokens[0] for p in preds] == ["Barack", "Obama", "Lionel"]
    for p in preds:
        for t in p.triples:
            assert 0.0 < t.score <= 1.0
            assert t.head in p.entities and t.tail in p.entities


def test_predict_cli_image_that_is_not_an_image(model_dir, tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"GIF89a but not really")
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "Obama in Paris", "image_path": str(fake)}) + "\n")
    res = CliRunner().invoke(app, ["predict", str(model_dir), str(inp), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 1
    assert "fake.jpg" in res.output and "not a readable image" in res.output
    assert not (tmp_path / "o.jsonl").exists()
