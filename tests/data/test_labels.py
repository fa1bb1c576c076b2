"""Label words: entity types read back from an LLM's words (``type_code``)."""

from __future__ import annotations

import pytest

from kecpm.data.labels import TYPE_WORDS, type_code, type_words


@pytest.mark.parametrize(("word", "code"), [
    ("per", "per"), ("PER", "per"), ("Person", "per"), ("people", "per"),
    ("org", "org"), ("Organization", "org"), ("organisation", "org"),
    ("LOC", "loc"), ("location", "loc"), ("Place", "loc"),
    ("misc", "misc"), ("MISC", "misc"), ("other", "misc"), ("Miscellaneous", "misc"), ("other  named-thing", "misc"),
    ("planet", None), ("", None), ("person or place", None),
])
def test_type_code_reads_codes_label_words_and_synonyms(word, code):
    assert type_code(word) == code


def test_every_label_word_reads_back_to_its_code():
    assert all(type_code(type_words(t)) == t for t in TYPE_WORDS)
