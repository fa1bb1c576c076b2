"""model.joint_types: a triple's relation and its entities' types chosen together (kecpm.model.joint)."""

from __future__ import annotations

import torch

from kecpm.model.joint import joint_choice

TYPES = ["org", "per"]  # 0 = org, 1 = per
RELS = ["member_of", "peer"]  # 0 = member_of (per -> org), 1 = peer (per -> per)


def _rel_probs(n_pairs: int) -> torch.Tensor:
    """(T, T, P, R+1): under (per, org) member_of 0.9, under (per, per) peer 0.5, nothing else allowed."""
    rp = torch.zeros(2, 2, n_pairs, 3)
    rp[:, :, :, 0] = 1.0
    rp[1, 0, :, 0], rp[1, 0, :, 1] = 0.1, 0.9
    rp[1, 1, :, 0], rp[1, 1, :, 2] = 0.5, 0.5
    return rp


def test_a_likely_relation_retypes_an_entity():
    # entity 1 reads "per" at 0.6 and "org" at 0.4; next to a person, member_of under (per, org) wins:
    # 1.0 * 0.4 * 0.9 = 0.36 against peer under (per, per) 1.0 * 0.6 * 0.5 = 0.30
    types = torch.tensor([[0.0, 1.0], [0.4, 0.6]])
    [choice] = joint_choice(types, _rel_probs(2), [(0, 1), (1, 0)], [(0, 1)])
    assert choice == (0.8999999761581421, 0, 0, 1, 1, 0)  # member_of, 0 -> 1, per -> org
    # a surer "per" keeps the type: 0.8 * 0.5 = 0.40 against 0.2 * 0.9 = 0.18
    [choice] = joint_choice(torch.tensor([[0.0, 1.0], [0.2, 0.8]]), _rel_probs(2), [(0, 1), (1, 0)], [(0, 1)])
    assert choice[1] == 1 and choice[4:] == (1, 1)


def test_an_entity_keeps_one_type_across_its_triples():
    # entity 0 is in two pairs; the better pair (0, 1) fixes it to per, so (0, 2) chooses under per
    types = torch.tensor([[0.3, 0.7], [0.0, 1.0], [0.5, 0.5]])
    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    choices = joint_choice(types, _rel_probs(len(pairs)), pairs, [(0, 1), (0, 2)])
    typed: dict[int, set[int]] = {}
    for _, _, h, t, a, b in choices:
        typed.setdefault(h, set()).add(a)
        typed.setdefault(t, set()).add(b)
    assert all(len(v) == 1 for v in typed.values()) and typed[0] == {1}


def test_no_triple_where_the_schema_allows_nothing():
    rp = torch.zeros(2, 2, 2, 3)
    rp[..., 0] = 1.0
    assert joint_choice(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), rp, [(0, 1), (1, 0)], [(0, 1)]) == []


def test_model_decoding_types_agree_and_off_is_unchanged(make_model, tiny_posts):
    low = {"entity_threshold": 0.99, "relation_threshold": 0.99}
    plain = make_model(min_triples=1).eval().predict(tiny_posts, thresholds=low)
    joint = make_model(min_triples=1, joint_types=True).eval().predict(tiny_posts, thresholds=low)
    allowed = make_model().config.allowed_pairs
    assert any(p.triples for p in joint)
    for a, b in zip(plain, joint, strict=True):
        # the same pairs hold a triple; the entity list names the types the triples chose
        assert {frozenset({(t.head.start, t.head.end), (t.tail.start, t.tail.end)}) for t in a.triples} == \
               {frozenset({(t.head.start, t.head.end), (t.tail.start, t.tail.end)}) for t in b.triples}
        types = {(e.start, e.end): e.type for e in b.entities}
        for t in b.triples:
            assert [t.head.type, t.tail.type] in allowed[t.relation]
            assert types[(t.head.start, t.head.end)] == t.head.type and types[(t.tail.start, t.tail.end)] == t.tail.type
