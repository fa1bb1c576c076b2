"""``kecpm import-knowledge``: the paper's ChatGPT knowledge matched to posts by id."""

from __future__ import annotations

import json

from knowledge_helpers import make_posts
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jmere import read_jmere
from kecpm.data.jsonl import write_jsonl
from kecpm.knowledge import load_knowledge
from kecpm.knowledge.imported import ImportedKnowledge, import_knowledge


def test_import_small_file(tmp_path):
    src = tmp_path / "train_ofa_knowledge.json"
    src.write_text(
        '{"token": ["Obama", "in", "Paris"], "img_id": "1.jpg", "label_list": [], "knowledge": ["Obama is a politician."]}\n'
        '{"token": ["no", "knowledge"], "img_id": "2.jpg", "label_list": []}\n'
    )
    imp = ImportedKnowledge.load(src)
    posts = read_jmere(src)
    found, missing = imp.lookup(posts)
    assert found == {posts[0].id: ["Obama is a politician."]}
    assert missing == [posts[1].id]


def test_import_real_fs_jmere(shared_data):
    root = shared_data / "fs-jmere"
    imp = ImportedKnowledge.load(root)
    test_posts = read_jmere(root / "seed_17" / "test.json")
    found, missing = imp.lookup(test_posts)
    assert len(found) >= 0.95 * len(test_posts), (len(found), len(missing))
    assert all(isinstance(s, str) and s for v in found.values() for s in v)


def _source_and_split(tmp_path):
    posts = make_posts(0, 3)
    src = tmp_path / "train_ofa_knowledge.json"
    src.write_text("".join(json.dumps({"token": p.tokens, "img_id": p.img_id, "label_list": [],
                                       "knowledge": [f"fact {i}"]}) + "\n" for i, p in enumerate(posts[:2])))
    write_jsonl(tmp_path / "split" / "test.jsonl", posts)
    return src, tmp_path / "split", posts


def test_import_knowledge_writes_records_and_config(tmp_path):
    src, split, posts = _source_and_split(tmp_path)
    s = import_knowledge(split, src)
    assert (s.posts, s.no_knowledge, s.output) == (3, 1, split / "knowledge.jsonl")
    assert load_knowledge(split) == {posts[0].id: ["fact 0"], posts[1].id: ["fact 1"], posts[2].id: []}
    rec = json.loads((split / "knowledge.jsonl").read_text().splitlines()[0])
    assert rec["backend"] == "import" and rec["model"] == "import:train_ofa_knowledge.json" and rec["reflected"] is None
    assert json.loads((split / "knowledge.config.json").read_text()) == {"import": {"source": str(src.resolve())}}


def test_import_knowledge_cli(tmp_path):
    src, split, _ = _source_and_split(tmp_path)
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["import-knowledge", str(split), "--source", str(src), "-o", str(out)],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert out.exists() and (tmp_path / "out.config.json").exists() and not (split / "knowledge.jsonl").exists()
    assert "│ posts                   │ 3" in r.output and "│ posts without knowledge │ 1" in r.output, r.output
    r = CliRunner().invoke(app, ["import-knowledge", str(split), "--source", str(tmp_path / "missing")])
    assert r.exit_code == 1 and "knowledge source not found" in r.output
