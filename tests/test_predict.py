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
    assert res.exit_code == 0, res.output
    pid = read_jsonl(tmp_path / "o.jsonl")[0].id
    packed = "".join(res.stderr.split())  # the log handler may wrap a long line
    assert f"post{pid}:{fake}:notareadableimage" in packed
    assert "1 images missing or unreadable" in res.stderr


@pytest.fixture(scope="module")
def eager_model_dir(model_dir, tmp_path_factory) -> Path:
    """The tiny model with thresholds near 1: nearly every span an entity, so outputs are never empty."""
    model = PromptModel.load(model_dir)
    model.update_config(entity_threshold=0.999, relation_threshold=0.999)
    path = tmp_path_factory.mktemp("eager") / "model"
    model.save(path)
    return path


def _check_char_offsets(rec: dict) -> None:
    text = rec["text"]
    for e in rec["entities"] + [t[k] for t in rec["triples"] for k in ("head", "tail")]:
        assert text[e["char_start"]:e["char_end"]] == e["text"]
        assert e["text"].startswith(rec["tokens"][e["start"]]) and e["text"].endswith(rec["tokens"][e["end"] - 1])


def test_predict_from_stdin_writes_jsonl_to_stdout(eager_model_dir):
    res = CliRunner().invoke(app, ["predict", str(eager_model_dir), "-"],
                             input="Barack Obama, meets @AngelaMerkel in Berlin!!\n\nMessi joins PSG.\n")
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.stdout.splitlines()]  # stdout holds the JSONL only
    assert [r["tokens"] for r in recs] == [["Barack", "Obama", ",", "meets", "@AngelaMerkel", "in", "Berlin", "!!"],
                                          ["Messi", "joins", "PSG", "."]]
    assert recs[0]["text"] == "Barack Obama, meets @AngelaMerkel in Berlin!!"
    assert recs[0]["entities"] and recs[0]["triples"]
    for r in recs:
        _check_char_offsets(r)
    assert "2 posts ->" in res.stderr and "in stdout" in res.stderr and "0 bad lines skipped" in res.stderr


def test_predict_from_a_txt_file(eager_model_dir, tmp_path):
    inp = tmp_path / "tweets.txt"
    inp.write_text("RT @nytimes: Elon Musk's Tesla opens in Berlin.\nObama visits Paris, France!\n", encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    res = CliRunner().invoke(app, ["predict", str(eager_model_dir), str(inp), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in recs] == inp.read_text().splitlines()
    assert recs[0]["tokens"][:6] == ["RT", "@nytimes", ":", "Elon", "Musk", "'s"]
    assert all(r["entities"] for r in recs)
    for r in recs:
        _check_char_offsets(r)
    assert "2 posts ->" in res.stderr and "0 bad lines skipped" in res.stderr


def test_predict_knowledge_auto_with_the_dummy_backend(model_dir, tmp_path):
    inp = tmp_path / "tweets.txt"
    inp.write_text("Obama visits Paris with Merkel\nMessi joins PSG\nObama visits Paris with Merkel\n")
    out, cache = tmp_path / "pred.jsonl", tmp_path / "cache"
    args = ["predict", str(model_dir), str(inp), "-o", str(out), "--knowledge", "auto", "--backend", "dummy",
            "--set", "knowledge.k=0", "--cache-dir", str(cache), "--no-progress"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "knowledge: 2 posts, 0 cached answers" in res.stderr  # the repeated post is asked about once
    recs = read_jsonl(out)
    assert len(recs) == 3
    assert "Obama is mentioned in the post." in recs[0].knowledge and recs[0].knowledge == recs[2].knowledge
    assert "Messi is mentioned in the post." in recs[1].knowledge
    again = CliRunner().invoke(app, args)  # the second run is served by the answer cache
    assert again.exit_code == 0 and ", 0 model calls" in again.stderr, again.output
    assert read_jsonl(out) == recs


def test_predict_knowledge_auto_uses_the_training_knowledge_config(model_dir, tmp_path):
    """A model inside a run folder: its knowledge is generated with the options its training knowledge had."""
    import shutil

    run = tmp_path / "run" / "seed1"
    shutil.copytree(model_dir, run / "model")
    know = tmp_path / "split" / "knowledge.jsonl"
    know.parent.mkdir()
    know.write_text("")
    (know.parent / "knowledge.config.json").write_text(json.dumps(
        {"knowledge": {"backend": "dummy", "k": 0, "reflect": False}, "backend": {}}))
    (run / "config.json").write_text(json.dumps({"run": {"knowledge_file": str(know)}}))
    inp = tmp_path / "t.txt"
    inp.write_text("Obama visits Paris\n")
    res = CliRunner().invoke(app, ["predict", str(run / "model"), str(inp), "-o", str(tmp_path / "p.jsonl"),
                                   "--knowledge", "auto", "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "knowledge.config.json" in res.stderr and "1 model calls" in res.stderr
    assert read_jsonl(tmp_path / "p.jsonl")[0].knowledge == ["Obama is mentioned in the post.",
                                                             "Paris is mentioned in the post."]


def test_predict_missing_image_is_a_warning_with_the_count(model_dir, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "Obama in Paris", "img_id": "gone.jpg"}) + "\n"
                   + json.dumps({"text": "Obama in Paris"}) + "\n")
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(app, ["predict", str(model_dir), str(inp), "-o", str(out), "--image-dir", str(imgs)])
    assert res.exit_code == 0, res.output
    with_img, without = read_jsonl(out)
    packed = "".join(res.stderr.split())  # the log handler may wrap a long line
    assert f"WARNINGpost{with_img.id}:{imgs / 'gone.jpg'}:imagefilenotfound;usingtheno-imagevector" in packed
    assert packed.count("imagefilenotfound") == 1 and "1 images missing or unreadable" in res.stderr
    # the no-image vector: the same prediction as the post given without an image
    assert [(e, e.score) for e in with_img.entities] == [(e, e.score) for e in without.entities]


def test_predict_min_triples_keeps_one_triple_where_nothing_passes(model_dir, tmp_path):
    model = PromptModel.load(model_dir)
    model.update_config(entity_threshold=1e-9, relation_threshold=1e-9)  # no span or pair passes
    model.save(tmp_path / "strict")
    inp = tmp_path / "tweets.txt"
    inp.write_text("Barack Obama meets Angela Merkel in Berlin today .\nMessi joins PSG in Paris .\n", encoding="utf-8")

    def run(*extra: str) -> list[dict]:
        res = CliRunner().invoke(app, ["predict", str(tmp_path / "strict"), str(inp), *extra])
        assert res.exit_code == 0, res.output
        return [json.loads(line) for line in res.stdout.splitlines()]

    assert all(not r["entities"] and not r["triples"] for r in run())
    kept = run("--min-triples", "1")
    assert all(len(r["entities"]) == 2 and len(r["triples"]) <= 1 for r in kept)
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "strict"), str(inp), "--min-triples", "-1"])
    assert res.exit_code != 0 and "--min-triples must be >= 0" in res.output
