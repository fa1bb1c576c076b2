"""No text shared between the Twitter NER sets and MNRE (the warm start leaks no JMERE label)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kecpm.data.folders import find_seed_splits
from kecpm.data.mnre import read_mnre
from kecpm.data.overlap import overlapping
from kecpm.data.schema import Post


@pytest.mark.realdata
def test_no_twitter_text_occurs_in_mnre(shared_data: Path):
    twitter = [p for d in ("twitter2015", "twitter2017") for sp in find_seed_splits(shared_data / d)
               for part in ("train", "val", "test") for p in sp.read(part)]
    assert len(twitter) > 13000
    for f in sorted((shared_data / "mnre").glob("mnre_*.txt")):
        mnre = read_mnre(f, keep_empty=True)
        assert len(mnre) > 400 and overlapping(mnre, twitter) == [], f


def test_overlap_ignores_spacing_and_punctuation():
    a = Post("a", ["RT", "@x", ":", "Obama", "visits", "Paris", "!"], "")
    b = Post("b", ["RT", "@x:", "Obama", "visits", "Paris!"], "")
    c = Post("c", ["Merkel", "visits", "Paris"], "")
    assert overlapping([a, c], [b]) == [a]
