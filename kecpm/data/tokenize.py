"""Tweet-aware word tokenizer with character offsets: the one way raw text becomes ``Post.tokens``.

Kept whole: URLs (``https://t.co/x``, ``www.x.org``; trailing punctuation left out), e-mail
addresses, ``@user`` mentions, ``#tag`` hashtags, HTML entities (``&amp;``), emoticons (``:)``),
emoji with their modifiers and ZWJ sequences and flags, numbers with separators (``3.5``,
``1,000``, ``10:30``), abbreviations (``U.S.``), and words with inner hyphens or apostrophes
(``Anti-Declaw``, ``O'Brien``). Split off: every other punctuation mark (a run of the same mark,
``...`` or ``!!``, stays one token) and English clitics as in MNRE's tokens (``Obama's`` ->
``Obama`` ``'s``, ``don't`` -> ``do`` ``n't``). Each token keeps ``[start, end)`` into the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_EMOJI_BASE = ("[\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u3030\u303d\u3297\u3299"
               "\U0001f000-\U0001f1e5\U0001f200-\U0001faff]")
_EMOJI_MOD = "[\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]"
_EMOJI = f"(?:[\U0001f1e6-\U0001f1ff]{{2}}|{_EMOJI_BASE}{_EMOJI_MOD}*(?:\u200d{_EMOJI_BASE}{_EMOJI_MOD}*)*)"
_APOS = "'\u2019"
# word characters: \w plus the combining marks \w leaves out (accents, Indic and Thai vowel signs)
_W = r"(?:\w|[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0900-\u0dff\u0e31-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])"
PATTERNS: tuple[tuple[str, str], ...] = (
    ("url", r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]}'\u2019]"),
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("mention", rf"@{_W}+"),
    ("hashtag", rf"#{_W}+"),
    ("entity", r"&(?:[A-Za-z]+|#\d+);"),
    ("emoticon", r"(?<!\w)[:;=][\-o^']?[)(\]\[DPpO/\\|*](?!\w)"),
    ("emoji", _EMOJI),
    ("number", r"\d+(?:[.,:/]\d+)+"),
    ("abbrev", r"(?:[^\W\d_]\.){2,}"),
    ("word", rf"{_W}+(?:[-{_APOS}]{_W}+)*"),
    ("punct", r"(?P<mark>[^\w\s])(?P=mark)*"),
)
_TOKEN = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in PATTERNS))
_CLITIC = re.compile(rf"(?i)(?<=\w)(?:n[{_APOS}]t|[{_APOS}](?:s|re|ve|ll|d|m))$")


@dataclass(frozen=True)
class Token:
    """A word of a text and its character offsets ``[start, end)``."""

    text: str
    start: int
    end: int


def _split_clitic(text: str, start: int) -> list[Token]:
    m = _CLITIC.search(text)
    if m is None or m.start() == 0:
        return [Token(text, start, start + len(text))]
    cut = m.start()
    return [Token(text[:cut], start, start + cut), Token(text[cut:], start + cut, start + len(text))]


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` with their character offsets (whitespace is never part of a token)."""
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        if m.lastgroup == "word":
            tokens.extend(_split_clitic(m.group(), m.start()))
        else:
            tokens.append(Token(m.group(), m.start(), m.end()))
    return tokens


def words(text: str) -> list[str]:
    """The token strings of ``text``."""
    return [t.text for t in tokenize(text)]


def char_span(tokens: Sequence[Token], start: int, end: int) -> tuple[int, int]:
    """Character offsets ``[first token's start, last token's end)`` of the token span ``[start, end)``."""
    if not 0 <= start < end <= len(tokens):
        raise IndexError(f"token span [{start}, {end}) out of range for {len(tokens)} tokens")
    return tokens[start].start, tokens[end - 1].end
