"""`kecpm train --retrieval CORPUS --experts ...`: thin flags over model.retrieval / model.experts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jsonl import read_jsonl, write_jsonl

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def test_train_with_retrieval(tmp_path: Path) -> None:
    posts = read_jsonl(TINY)
    split = tmp_path / "splits" / "seed1"
    for part, chunk in (("train", posts[:4]), ("val", posts[4:6]), ("test", posts[6:])):
        write_jsonl(split / f"{part}.jsonl", chunk)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Lionel Messi plays football for Barcelona.\nAngela Merkel was chancellor of Germany.\n")
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(tmp_path / "splits"), "--epochs", "1", "--threads", "1",
                                   "--out", str(tmp_path / "runs"), "--retrieval", str(corpus), "--experts", "visual",
                                   "--set", "model.retrieval_top_k=1"])
    assert res.exit_code == 0, res.output
    seed = tmp_path / "runs" / "splits-more-visual" / "seed1"
    run = json.loads((seed / "config.json").read_text())["model"]
    assert (run["retrieval"], run["experts"], run["retrieval_top_k"]) == (str(corpus), "visual", 1)
    model = json.loads((seed / "model" / "config.json").read_text())
    assert len(model["retrieval_sha256"]) == 64
    assert "visual_gate" in json.loads((seed / "results.json").read_text())["gate_openness"]
    bad = CliRunner().invoke(app, ["train", "--splits-dir", str(tmp_path / "splits"), "--experts", "both",
                                   "--out", str(tmp_path / "runs")])
    assert bad.exit_code == 1 and "experts: 'both' is not one of text, visual, mix" in bad.output
