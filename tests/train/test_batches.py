"""Training batches: plain shuffled batches and batches grouped by length (train.group_by_length)."""

from __future__ import annotations

import torch

from kecpm.train.trainer import length_grouped


def _batches(n: int, lengths: list[int], seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen).tolist()
    return length_grouped(order, lengths, 8, gen, group=4)


def test_grouped_batches_hold_every_post_once_and_similar_lengths():
    lengths = [(7 * i) % 41 + 1 for i in range(100)]
    batches = _batches(100, lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert sorted(map(len, batches)) == [4] + [8] * 12  # only the last group's remainder is short
    # within a batch the lengths are neighbours in a sorted group of 32: the spread is far below 40
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    plain = [list(range(k, min(k + 8, 100))) for k in range(0, 100, 8)]
    plain_spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain)
    assert spread < plain_spread / 2


def test_grouped_batches_depend_on_the_seed_only():
    lengths = [i % 13 for i in range(50)]
    assert _batches(50, lengths, 5) == _batches(50, lengths, 5)
    assert _batches(50, lengths, 5) != _batches(50, lengths, 6)
