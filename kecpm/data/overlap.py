"""Text overlap between data sets: does any post of one occur in another (a leak check)?

Texts are compared by their letters and digits only, lower-cased (so tokenisation, spacing and
punctuation differences do not hide a repeat), exactly and by a prefix of ``prefix`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kecpm.data.schema import Post

_KEEP = re.compile(r"[^a-z0-9]+")


def letters_and_digits(text: str) -> str:
    """``text`` reduced to lower-case letters and digits: what "the same text" means everywhere."""
    return _KEEP.sub("", text.lower())


def text_key(post: Post) -> str:
    """The post's text reduced to lower-case letters and digits."""
    return letters_and_digits(post.text)


def overlapping(posts: Iterable[Post], others: Iterable[Post], prefix: int = 40) -> list[Post]:
    """The posts of ``posts`` whose text also occurs in ``others``: same key, or the same first
    ``prefix`` characters of the key (for keys at least that long)."""
    keys, heads = set(), set()
    for o in others:
        k = text_key(o)
        keys.add(k)
        if len(k) >= prefix:
            heads.add(k[:prefix])
    out = []
    for p in posts:
        k = text_key(p)
        if k in keys or (len(k) >= prefix and k[:prefix] in heads):
            out.append(p)
    return out
