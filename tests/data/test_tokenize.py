"""The tweet-aware tokenizer: tokens and their character offsets."""

from __future__ import annotations

import pytest

from kecpm.data.tokenize import char_span, tokenize, words


@pytest.mark.parametrize("text, expected", [
    ("Musk, CEO of @Tesla, visits Berlin!!", ["Musk", ",", "CEO", "of", "@Tesla", ",", "visits", "Berlin", "!!"]),
    ("#NBAFinals tonight https://t.co/Ab1cD.", ["#NBAFinals", "tonight", "https://t.co/Ab1cD", "."]),
    ("Obama's trip: I don't know", ["Obama", "'s", "trip", ":", "I", "do", "n't", "know"]),
    ("O'Brien and Nyong'o in the U.S. for $3.5 million...", ["O'Brien", "and", "Nyong'o", "in", "the", "U.S.", "for",
                                                            "$", "3.5", "million", "..."]),
    ("Anti-Declaw bill (10:30) &amp; more :)", ["Anti-Declaw", "bill", "(", "10:30", ")", "&amp;", "more", ":)"]),
    ("Paris😂👍🏽 fam 👨\u200d👩\u200d👧 🇫🇷", ["Paris", "😂", "👍🏽", "fam", "👨\u200d👩\u200d👧", "🇫🇷"]),
    ("RT @user: café naïve “quoted” Nadal’s", ["RT", "@user", ":", "café", "naïve", "“", "quoted", "”", "Nadal", "’s"]),
    ("mail a.b@x.com, www.kecpm.org/x).", ["mail", "a.b@x.com", ",", "www.kecpm.org/x", ")", "."]),
    ("   ", []),
])
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_offsets_point_into_the_text() -> None:
    text = "  Barack Obama,\tmeets @AngelaMerkel in Berlin!! 👍🏽 https://t.co/x\n"
    tokens = tokenize(text)
    assert [(t.start, t.end) for t in tokens[:3]] == [(2, 8), (9, 14), (14, 15)]
    for t in tokens:
        assert text[t.start:t.end] == t.text and t.text.strip() == t.text
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:], strict=False))
    i = words(text).index("@AngelaMerkel")
    assert text[slice(*char_span(tokens, i, i + 3))] == "@AngelaMerkel in Berlin"
    with pytest.raises(IndexError):
        char_span(tokens, 3, 3)
