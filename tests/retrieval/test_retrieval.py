"""Retrieval corpus, content-addressed FAISS index and retriever (MoRe, kecpm.retrieval)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from kecpm.config import ConfigError
from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import Post
from kecpm.retrieval import Embedder, Retriever, load_index, normalise_text, query_of, read_corpus
from kecpm.retrieval import index as index_mod

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"
FACTS = ["Barack Obama was the 44th president of the United States.", "Angela Merkel was chancellor of Germany.",
         "Lionel Messi plays football for Barcelona.", "Taylor Swift is an American singer."]


def write_corpus(path: Path, posts: list[Post]) -> Path:
    """The posts' texts (with their ids), some facts, and post 0's text again: other case and spaces, no id."""
    rows = [{"id": p.id, "text": p.text} for p in posts] + [{"text": t} for t in FACTS]
    rows.append({"text": "  " + posts[0].text.upper().replace(" ", "   ")})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the texts every Embedder.encode call embeds (the packaged model still runs)."""
    calls: list[int] = []
    real = Embedder.encode

    def encode(self: Embedder, texts: list[str], batch_size: int = 64):  # noqa: ANN202
        calls.append(len(texts))
        return real(self, texts, batch_size)

    monkeypatch.setattr(Embedder, "encode", encode)
    return calls


def test_index_is_built_once_then_read_from_the_cache(tmp_path, counted, caplog):
    posts = read_jsonl(TINY)
    corpus = write_corpus(tmp_path / "corpus.jsonl", posts)
    caplog.set_level(logging.INFO, logger="kecpm.retrieval")
    first = load_index(corpus, Embedder())
    assert counted == [len(posts) + len(FACTS) + 1]
    assert {f.name for f in first.folder.iterdir()} == {"index.faiss", "passages.jsonl", "meta.json"}
    assert [p.name for p in first.folder.parent.iterdir()] == [first.folder.name]  # no temporary folder left
    second = load_index(corpus, Embedder())  # a new embedder: nothing is embedded again
    assert counted == [len(posts) + len(FACTS) + 1]
    assert second.folder == first.folder and second.passages == first.passages
    assert "from cache" in caplog.text
    # the key is the content and the embedder's name: a copy elsewhere hits the cache, another model misses it
    copy = tmp_path / "elsewhere" / "c.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(corpus.read_bytes())
    assert load_index(copy, Embedder()).folder == first.folder
    assert index_mod.index_key("abc", "model-a") != index_mod.index_key("abc", "model-b")


def test_retrieval_never_returns_the_query_post(tmp_path):
    posts = read_jsonl(TINY)
    corpus = write_corpus(tmp_path / "corpus.jsonl", posts)
    n = len(posts) + len(FACTS) + 1
    for k in (3, n):
        found = Retriever(corpus, k).for_posts(posts, "text")
        for post, passages in zip(posts, found, strict=True):
            assert normalise_text(post.text) not in {normalise_text(t) for t in passages}
            assert len(passages) == len({normalise_text(t) for t in passages})  # no text twice
            assert len(passages) == min(k, n - 2)  # post 0's text is there twice: one distinct text less
    # the nearest passage to post 1's text is post 1 itself: skipped, the next ones come instead
    [top] = Retriever(corpus, 1).for_posts([posts[1]], "text")
    assert top and normalise_text(top[0]) != normalise_text(posts[1].text)
    # a post absent from the corpus but with the id of one: that passage is skipped by its id
    twin = replace(posts[2], tokens=["Taylor", "Swift", "at", "the", "Grammys", "again"])
    assert posts[2].text not in Retriever(corpus, n).for_posts([twin], "text")[0]


def test_passages_are_cached_per_post_and_the_visual_query_is_the_caption(tmp_path, counted, caplog):
    posts = read_jsonl(TINY)
    corpus = write_corpus(tmp_path / "corpus.jsonl", posts)
    r = Retriever(corpus, 2)
    r.for_posts(posts[:3], "text")
    before = len(counted)
    r.for_posts(posts[:3], "text")
    assert len(counted) == before  # second time: from memory
    assert query_of(posts[0], "visual") == posts[0].caption and query_of(posts[0], "text") == posts[0].text
    assert query_of(posts[0], "visual", use_caption=False) == posts[0].text
    imaged = replace(posts[1], caption=None, image_path=str(tmp_path / "x.jpg"))
    caplog.set_level(logging.INFO, logger="kecpm.retrieval")
    assert r.for_posts([imaged], "visual") == r.for_posts([imaged], "text")
    assert "image embedder" in caplog.text and caplog.text.count("image embedder") == 1


def test_empty_corpus_is_a_clear_error(tmp_path):
    for name, content in (("empty.jsonl", ""), ("blank.txt", "\n \n"), ("texts.jsonl", '{"text": " "}\n')):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(DataError, match=f"{path}.*(empty|no passages)"):
            load_index(path, Embedder())
    with pytest.raises(FileNotFoundError, match="retrieval corpus not found"):
        load_index(tmp_path / "missing.jsonl", Embedder())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "typo"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=f"{bad}:2: .*text"):
        read_corpus(bad)


def test_corpus_formats(tmp_path):
    lines = tmp_path / "facts.txt"
    lines.write_text("\n".join(FACTS) + "\n\n", encoding="utf-8")
    assert [p.text for p in read_corpus(lines)] == FACTS
    posts = read_jsonl(TINY)
    assert [(p.text, p.id) for p in read_corpus(TINY)] == [(p.text, p.id) for p in posts]  # a file of posts


def test_a_recorded_hash_finds_the_cache_without_the_corpus(tmp_path):
    from kecpm.hashing import sha256_file

    corpus = tmp_path / "facts.txt"
    corpus.write_text("\n".join(FACTS) + "\n", encoding="utf-8")
    sha = sha256_file(corpus)
    built = load_index(corpus, Embedder())
    corpus.unlink()
    assert load_index(corpus, Embedder(), sha256=sha).passages == built.passages
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        load_index(corpus, Embedder(), sha256="0" * 64)
    corpus.write_text("another corpus\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="changed since the model was trained"):
        load_index(corpus, Embedder(), sha256="0" * 64)


def test_benchmark_corpus_has_no_test_post_and_no_label(shared_data, tmp_path):
    import subprocess
    import sys

    from kecpm.data.folders import find_seed_splits
    from kecpm.data.overlap import text_key
    from kecpm.data.readers import read_posts

    root = Path(__file__).parents[2]
    out = tmp_path / "corpus.jsonl"
    mnre = shared_data / "mnre"
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "retrieval_corpus.py"),
                           str(shared_data / "fs-jmere" / "seed_17"), "--mnre-train", str(mnre / "mnre_train.txt"),
                           "--mnre-test", str(mnre / "mnre_test.txt"), "-o", str(out)],
                          capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert done.stdout.startswith(f"{len(rows)} passages -> {out}")
    assert all(set(r) == {"text", "id"} for r in rows)
    test = [*find_seed_splits(shared_data / "fs-jmere" / "seed_17")[0].read("test"), *read_posts(mnre / "mnre_test.txt")]
    keys = {text_key(p) for p in test}
    assert not [r for r in rows if text_key(Post("", r["text"].split(), "")) in keys]
    assert len(rows) > 3000 and len(read_corpus(out)) == len(rows)
