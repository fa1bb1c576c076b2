"""Small in-process posts and split folders for the stage 1 tests; the vLLM availability rule."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from kecpm.data.jsonl import write_jsonl
from kecpm.data.schema import Entity, Post, Triple, post_id

TEXTS = [
    ("Barack Obama visits Paris with Michelle Obama", "a man and a woman in front of a tower", (0, 2, "per"), (5, 7, "per"), "couple"),
    ("Lionel Messi joins PSG in France", "a football player holding a shirt", (0, 2, "per"), (3, 4, "org"), "member_of"),
    ("Taylor Swift performs at Madison Square Garden", "a singer on a stage", (0, 2, "per"), (4, 7, "loc"), "present_in"),
    ("Apple opens a new store in Tokyo", "a store with a logo", (0, 1, "org"), (6, 7, "loc"), "locate_at"),
    ("Cristiano Ronaldo scores for Portugal again", "a football player celebrating", (0, 2, "per"), (4, 5, "loc"), "nationality"),
    ("Elon Musk and Tesla unveil a new car", "a man next to a car", (0, 2, "per"), (3, 4, "org"), "member_of"),
    ("The Beatles album Abbey Road turns fifty", "four men crossing a street", (0, 2, "org"), (3, 5, "misc"), "awarded"),
    ("Serena Williams and Venus Williams win in London", "two women holding trophies", (0, 2, "per"), (3, 5, "per"), "siblings"),
    ("Pope Francis visits Ireland this weekend", "an old man waving", (0, 2, "per"), (3, 4, "loc"), "present_in"),
    ("NASA launches a probe from Florida", "a rocket taking off", (0, 1, "org"), (5, 6, "loc"), "locate_at"),
    ("Angela Merkel meets Emmanuel Macron in Berlin", "two politicians shaking hands", (0, 2, "per"), (3, 5, "per"), "peer"),
    ("Manchester United sign a player from Ajax", "a man holding a red shirt", (0, 2, "org"), (6, 7, "org"), "peer"),
]


def make_posts(start: int = 0, n: int = len(TEXTS), img_prefix: str = "img") -> list[Post]:
    posts = []
    for i in range(start, start + n):
        text, cap, (hs, he, ht), (ts, te, tt), rel = TEXTS[i % len(TEXTS)]
        toks = text.split()
        img = f"{img_prefix}{i}.jpg"
        h, t = Entity(hs, he, ht, " ".join(toks[hs:he])), Entity(ts, te, tt, " ".join(toks[ts:te]))
        posts.append(Post(post_id(img, toks), toks, img, caption=cap, entities=[h, t], triples=[Triple(h, rel, t)]))
    return posts


def write_split(folder: Path, n_train: int = 6, n_val: int = 3, n_test: int = 3) -> Path:
    posts = make_posts(0, n_train + n_val + n_test)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", posts[:n_train])
    write_jsonl(folder / "val.jsonl", posts[n_train : n_train + n_val])
    write_jsonl(folder / "test.jsonl", posts[n_train + n_val :])
    return folder


def need_vllm() -> None:
    """Skip without vllm, except in CI (``CI`` set) where it must be there."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("CI"):
            pytest.fail("vllm is not installed but CI is set: the vLLM tests must run in CI")
        pytest.skip("vllm is not installed (CI installs it and runs these tests)")
