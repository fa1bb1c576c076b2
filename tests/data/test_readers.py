"""Readers on real lines of each real file, and on small bad files made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kecpm.data import BadLines, DataError, Entity, Post, Triple, post_id
from kecpm.data.conll import read_conll
from kecpm.data.jmere import read_jmere
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.mnre import read_mnre, read_mnre_split
from kecpm.data.readers import detect_format, read_posts


def _lines(path: Path, numbers: list[int]) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return [lines[i - 1] for i in numbers]


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines), encoding="utf-8")
    return path


# --- MNRE v2 -------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_mnre_line_gives_post_with_types_from_label(shared_data: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "one.txt", _lines(shared_data / "mnre" / "mnre_test.txt", [1]))
    [post] = read_posts(path)
    tokens = ["RT", "@DenisLaw_WFT", ":", "New", "breed", "of", "Crocodile", "discovered", "in", "South",
              "Wales", "woodland"]
    assert post.tokens == tokens
    assert post.img_id == "twitter_stream_2018_10_10_13_0_2_142.jpg"
    assert post.id == post_id(post.img_id, tokens)
    head, tail = Entity(6, 7, "misc", "Crocodile"), Entity(9, 11, "loc", "South Wales")
    assert post.triples == [Triple(head, "held_on", tail)]
    assert [(e.start, e.end, e.type, e.text) for e in post.entities] == [(6, 7, "misc", "Crocodile"),
                                                                        (9, 11, "loc", "South Wales")]


@pytest.mark.realdata
def test_mnre_none_lines_carry_no_triple(shared_data: Path, tmp_path: Path) -> None:
    test_file = shared_data / "mnre" / "mnre_test.txt"
    only_none = _write(tmp_path, "none.txt", _lines(test_file, [7, 8, 9]))  # three None pairs of one post
    assert read_mnre(only_none) == []
    [kept] = read_mnre(only_none, keep_empty=True)
    assert kept.triples == [] and kept.tokens[3] == "KYUNGSOO"
    # lines 72-74: two labelled pairs and one None pair of the same post
    [post] = read_mnre(_write(tmp_path, "mixed.txt", _lines(test_file, [72, 73, 74])))
    assert sorted(t.relation for t in post.triples) == ["alternate_names", "nationality"]


@pytest.mark.realdata
def test_mnre_test_groups_into_460_posts(shared_data: Path) -> None:
    posts = read_mnre_split(shared_data / "mnre", "test")
    assert len(posts) == 460
    assert sum(len(p.triples) for p in posts) == 640
    assert len({p.id for p in posts}) == 460


@pytest.mark.realdata
def test_mnre_val_file_with_space_in_name(shared_data: Path) -> None:
    path = shared_data / "mnre" / "mnre_val .txt"
    assert detect_format(path) == "mnre"
    posts = read_posts(path)
    assert [p.id for p in posts] == [p.id for p in read_mnre_split(shared_data / "mnre", "val")]
    assert len(posts) == 473 and sum(len(p.triples) for p in posts) == 624


# --- JMERE / KECPM JSON --------------------------------------------------------------------------

@pytest.mark.realdata
def test_fs_jmere_json_list(shared_data: Path) -> None:
    posts = read_posts(shared_data / "fs-jmere" / "seed_17" / "train.json")
    assert len(posts) == 246
    first = posts[0]
    assert first.tokens[3:6] == ["Edward", "James", "Olmos"]
    assert first.triples == [Triple(Entity(3, 6, "per"), "present_in", Entity(11, 13, "misc"))]
    assert first.triples[0].tail.text == "The Predator"
    assert first.caption is None and first.knowledge is None


@pytest.mark.realdata
def test_fs_jmere_knowledge_jsonl_with_caption_and_knowledge(shared_data: Path) -> None:
    folder = shared_data / "fs-jmere" / "seed_17"
    path = folder / "train_ofa_knowledge.json"
    assert detect_format(path) == "jmere"
    posts = read_posts(path)
    first = posts[0]
    assert first.caption == "an older man wearing glasses and a blue jacket"
    assert first.knowledge is not None and len(first.knowledge) == 4
    assert first.knowledge[0] == "Edward James Olmos is an actor."
    assert all(p.caption and p.knowledge for p in posts)
    assert [p.id for p in posts] == [p.id for p in read_jmere(folder / "train.json")]
    captioned = read_posts(folder / "train_ofa_image_caption.json")
    assert captioned[0].caption == first.caption and captioned[0].knowledge is None


@pytest.mark.realdata
def test_fs_jmere_test_repeated_records_are_merged(shared_data: Path) -> None:
    """The published test.json has 475 records: 15 of the 460 posts appear twice with part of the triples."""
    posts = read_posts(shared_data / "fs-jmere" / "seed_17" / "test_ofa_knowledge.json")
    assert len(posts) == 460 and len({p.id for p in posts}) == 460
    assert sum(len(p.triples) for p in posts) == 640
    assert {p.id for p in posts} == {p.id for p in read_mnre_split(shared_data / "mnre", "test")}


def test_repeated_jmere_records_merge_triples_and_knowledge(tmp_path: Path) -> None:
    def rec(rel: str, head: int, knowledge: list[str]) -> str:
        return json.dumps({"token": ["Ann", "and", "Bo", "and", "Cy"], "img_id": "a.jpg", "image_caption": ["two"],
                           "knowledge": knowledge, "label_list": [[{
                               "beg_ent": {"name": "x", "pos": [head, head + 1], "tags": "per"},
                               "sec_ent": {"name": "Cy", "pos": [4, 5], "tags": "per"}, "relation": rel}]]})

    path = _write(tmp_path, "dup.json", [rec("peer", 0, ["k1", "k2"]), rec("couple", 2, ["k2", "k3"])])
    [post] = read_jmere(path)
    assert [(t.head.start, t.relation) for t in post.triples] == [(0, "peer"), (2, "couple")]
    assert post.knowledge == ["k1", "k2", "k3"] and post.caption == "two"
    assert [e.start for e in post.entities] == [0, 2, 4]

    # a sentence repeated inside one record, or in a third record, is kept once, in first-seen order
    path = _write(tmp_path, "dup3.json", [rec("peer", 0, ["k2", "k1"]), rec("couple", 2, ["k3", "k3", "k1"]),
                                          rec("peer", 0, ["k2", "k4"])])
    [post] = read_jmere(path)
    assert post.knowledge == ["k2", "k1", "k3", "k4"]


def test_jmere_string_knowledge_is_one_sentence(tmp_path: Path) -> None:
    """Some published files hold "knowledge": "..." (a string): one sentence, not a list of characters."""
    base = {"token": ["Ann", "and", "Bo"], "img_id": "a.jpg", "label_list": [[{
        "beg_ent": {"name": "Ann", "pos": [0, 1], "tags": "per"}, "sec_ent": {"name": "Bo", "pos": [2, 3], "tags": "per"},
        "relation": "peer"}]]}
    lines = [json.dumps({**base, "knowledge": " Ann is a singer. "}),
             json.dumps({**base, "img_id": "b.jpg", "knowledge": ""}),
             json.dumps({**base, "img_id": "c.jpg", "knowledge": ["Ann is a singer.", "Bo too."]})]
    one, blank, listed = read_jmere(_write(tmp_path, "k.json", lines))
    assert one.knowledge == ["Ann is a singer."]
    assert blank.knowledge == []
    assert listed.knowledge == ["Ann is a singer.", "Bo too."]
    # merged with a list record: the string's sentence counts once
    [merged] = read_jmere(_write(tmp_path, "k2.json", [lines[0], lines[2].replace("c.jpg", "a.jpg")]))
    assert merged.knowledge == ["Ann is a singer.", "Bo too."]
    # the canonical reader takes the same shape
    assert Post.from_dict({"tokens": ["Ann"], "knowledge": "A fact."}).knowledge == ["A fact."]
    bad = BadLines(skip=True)
    assert read_jmere(_write(tmp_path, "k3.json", [json.dumps({**base, "knowledge": 7})]), bad) == []
    assert bad.count == 1 and "list of sentences" in bad.errors[0].reason


# --- CoNLL ---------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_twitter_conll_entities(shared_data: Path) -> None:
    posts = read_posts(shared_data / "twitter2015" / "train.txt")
    assert len(posts) == 4000
    first = posts[0]
    assert first.img_id == "1015799" and first.tokens[:3] == ["RT", "@JayKenMinaj", "_"]
    assert Entity(8, 10, "per", "George Zimmerman") in first.entities
    assert all(p.triples == [] for p in posts)
    posts17 = read_conll(shared_data / "twitter2017" / "train.txt")
    assert len(posts17) == 3373
    assert posts17[0].entities[0].type == "misc" and posts17[0].entities[0].text.startswith("Blackburn")


# --- canonical JSONL -----------------------------------------------------------------------------

@pytest.mark.realdata
def test_canonical_jsonl_round_trip(shared_data: Path, tmp_path: Path) -> None:
    posts = read_mnre_split(shared_data / "mnre", "test")[:50]
    posts[0].caption, posts[0].knowledge = "a caption", ["one fact.", "another fact."]
    out = tmp_path / "posts.jsonl"
    assert write_jsonl(out, posts) == 50
    assert detect_format(out) == "jsonl"
    again = read_posts(out)
    assert again == posts
    first_bytes = out.read_bytes()
    write_jsonl(out, again)
    assert out.read_bytes() == first_bytes


# --- bad input -----------------------------------------------------------------------------------

GOOD = ("{'token': ['Alice', 'joins', 'Acme'], 'h': {'name': 'Alice', 'pos': [0, 1]}, "
        "'t': {'name': 'Acme', 'pos': [2, 3]}, 'img_id': 'a.jpg', 'relation': '/per/org/member_of'}")


def _mnre(relation: str = "/per/org/member_of", tokens: str = "['Alice', 'joins', 'Acme']",
          tail: str = "[2, 3]") -> str:
    return (f"{{'token': {tokens}, 'h': {{'name': 'Alice', 'pos': [0, 1]}}, "
            f"'t': {{'name': 'Acme', 'pos': {tail}}}, 'img_id': 'b.jpg', 'relation': '{relation}'}}")


def test_malformed_line_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.txt", [GOOD, "{'token': ['oops'", _mnre()])
    with pytest.raises(DataError) as err:
        read_posts(path)
    assert err.value.line == 2 and f"{path}:2:" in str(err.value)
    jsonl = _write(tmp_path, "bad.jsonl", ['{"tokens": ["a"], "img_id": "x"}', "", '{"tokens": [ broken'])
    with pytest.raises(DataError, match=r"bad\.jsonl:3: not valid JSON"):
        read_jsonl(jsonl)


def test_skip_bad_counts_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.txt", [GOOD, "not a dict", _mnre(relation="/per/org/frobnicates"), _mnre()])
    bad = BadLines(skip=True)
    posts = read_posts(path, bad=bad)
    assert bad.count == 2 and [e.line for e in bad.errors] == [2, 3]
    assert [p.img_id for p in posts] == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_mnre(relation="/per/org/frobnicates"), "unknown relation 'frobnicates'"),
        (_mnre(relation="/per/xyz/member_of"), "unknown entity type 'xyz'"),
        (_mnre(relation="per_member_of"), "not of the form"),
        (_mnre(tail="[2, 9]"), r"span \[2, 9\) out of range for 3 tokens"),
        (_mnre(tokens="['', ' ', '']", tail="[1, 2]"), "empty text"),
    ],
)
def test_mnre_bad_labels_and_spans_are_rejected(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, "x.txt", [GOOD, line])
    with pytest.raises(DataError, match=message) as err:
        read_mnre(path)
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("post", "message"),
    [
        (Post("p", ["a", "b"], "i", triples=[Triple(Entity(0, 1, "per"), "likes", Entity(1, 2, "per"))]),
         "unknown relation 'likes'"),
        (Post("p", ["a", "b"], "i", entities=[Entity(1, 3, "per")]), "out of range"),
        (Post("p", ["a", "b"], "i", entities=[Entity(0, 1, "person")]), "unknown entity type"),
        (Post("p", [], "i"), "empty text"),
    ],
)
def test_canonical_jsonl_bad_posts_are_rejected(tmp_path: Path, post: Post, message: str) -> None:
    path = tmp_path / "x.jsonl"
    good = Post("q", ["Alice", "joins", "Acme"], "i",
                triples=[Triple(Entity(0, 1, "per"), "member_of", Entity(2, 3, "org"))])
    write_jsonl(path, [good, post])
    with pytest.raises(DataError, match=message) as err:
        read_jsonl(path)
    assert err.value.line == 2


def test_jmere_unknown_tag_is_rejected(tmp_path: Path) -> None:
    rec = ('{"token": ["Alice", "joins", "Acme"], "img_id": "a.jpg", "label_list": [[{"beg_ent": {"name": '
           '"Alice", "pos": [0, 1], "tags": "human"}, "sec_ent": {"name": "Acme", "pos": [2, 3], "tags": "org"}, '
           '"relation": "member_of"}]]}')
    with pytest.raises(DataError, match=r"k\.json:1: .*unknown entity type 'human'"):
        read_jmere(_write(tmp_path, "k.json", [rec]))
