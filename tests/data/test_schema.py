"""Posts carry stage 1's entity hints: round trip through dicts and JSONL, checks, no key without hints."""

from __future__ import annotations

import pytest

from kecpm.data.errors import BadLines, DataError
from kecpm.data.inputs import post_from_text
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.schema import Hint, Post, post_id

TOKENS = ["RT", "@CNN", ":", "Taylor", "Swift", "in", "Paris"]


def _post(**kw: object) -> Post:
    return Post(post_id("a.jpg", TOKENS), TOKENS, "a.jpg", knowledge=["Taylor Swift: singer."], **kw)


def test_hints_round_trip_and_posts_without_hints_have_no_key(tmp_path):
    hints = [Hint("Taylor Swift", "per", "American singer."), Hint("CNN", "org")]
    with_hints, without = _post(hints=hints), _post()
    d = with_hints.to_dict()
    assert d["hints"] == [{"entity": "Taylor Swift", "type": "per", "about": "American singer."},
                          {"entity": "CNN", "type": "org", "about": ""}]
    assert "hints" not in without.to_dict() and Post.from_dict(without.to_dict()).hints is None
    assert Post.from_dict(d) == with_hints
    write_jsonl(tmp_path / "p.jsonl", [with_hints, without])
    assert read_jsonl(tmp_path / "p.jsonl") == [with_hints, without]
    assert Post.from_dict({**d, "hints": []}).hints == []
    assert Hint.from_dict({"entity": "CNN", "type": "org"}) == Hint("CNN", "org", "")
    post, _ = post_from_text("Taylor Swift in Paris", {"hints": [{"entity": "Paris", "type": "loc", "about": ""}]})
    assert post.hints == [Hint("Paris", "loc")]


@pytest.mark.parametrize("bad", ["Taylor Swift", [{"entity": "", "type": "per"}], [{"entity": "X"}],
                                 [{"entity": "X", "type": "per", "about": 3}], ["X"]])
def test_malformed_hints_are_a_data_error_naming_the_line(tmp_path, bad):
    with pytest.raises(DataError, match="hint"):
        Post.from_dict({**_post().to_dict(), "hints": bad})
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [{**_post().to_dict(), "hints": bad}])
    skipped = BadLines(skip=True)
    assert read_jsonl(path, skipped) == [] and skipped.count == 1 and "p.jsonl:1" in str(skipped.errors[0])
