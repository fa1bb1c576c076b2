"""The ``import`` backend: the paper's ChatGPT knowledge matched to posts by id."""

from __future__ import annotations

from kecpm.data.jmere import read_jmere
from kecpm.knowledge.backends.imported import ImportedKnowledge


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
