"""Joint choice of a triple's relation and its entities' types (``model.joint_types``).

The span head types an entity on its own; the relation head then scores relations under those types and the
schema (which (head type, tail type) pairs each relation takes). A wrong type therefore costs the entity and
forbids the right relation. Scored jointly, a pair (i, j) with types (a, b) and relation r gets
p_i(a) * p_j(b) * p(r | i, j, a, b): "Arsenal" at p(per) 0.6 / p(org) 0.4 next to a player, with
p(member_of | per, org) 0.9 against p(peer | per, per) 0.5, becomes an org in a member_of triple.
"""

from __future__ import annotations

import torch

# One choice: (relation probability, 0-based relation, head entity, tail entity, 0-based head type, tail type).
Choice = tuple[float, int, int, int, int, int]


def joint_choice(type_probs: torch.Tensor, rel_probs: torch.Tensor, pairs: list[tuple[int, int]],
                 chosen: list[tuple[int, int]]) -> list[Choice]:
    """The best (direction, head type, tail type, relation) of each unordered entity pair in ``chosen``.

    ``type_probs`` (E, T): each entity's type probabilities; ``rel_probs`` (T, T, P, R+1): the relation
    probabilities (column 0 = none, zero where the schema forbids) of every ordered pair of ``pairs`` (P of
    them) under every (head type, tail type). Pairs are settled best first; an entity keeps the type of the
    first triple it takes part in, so later pairs choose under it. A pair whose every choice scores 0 (the
    schema allows no relation under the types already fixed) gets no triple."""
    index = {p: k for k, p in enumerate(pairs)}
    rel = rel_probs[..., 1:]
    n_types, n_rel = rel.size(0), rel.size(-1)

    def best(key: tuple[int, int], fixed: dict[int, int]) -> tuple[float, Choice]:
        out: tuple[float, Choice] = (0.0, (0.0, 0, key[0], key[1], 0, 0))
        for h, t in (key, key[::-1]):
            k = index[(h, t)]
            score = type_probs[h].view(-1, 1, 1) * type_probs[t].view(1, -1, 1) * rel[:, :, k]
            keep = torch.ones(n_types, n_types, 1, dtype=torch.bool, device=score.device)
            if h in fixed:
                keep[[a for a in range(n_types) if a != fixed[h]]] = False
            if t in fixed:
                keep[:, [b for b in range(n_types) if b != fixed[t]]] = False
            value, flat = score.masked_fill(~keep, 0.0).flatten().max(0)
            a, rest = divmod(int(flat), n_types * n_rel)
            b, r = divmod(rest, n_rel)
            if float(value) > out[0]:
                out = (float(value), (float(rel[a, b, k, r]), r, h, t, a, b))
        return out

    order = sorted(chosen, key=lambda key: -best(key, {})[0])
    fixed: dict[int, int] = {}
    choices = []
    for key in order:
        value, choice = best(key, fixed)
        if value <= 0.0:
            continue
        _, _, h, t, a, b = choice
        fixed[h], fixed[t] = a, b
        choices.append(choice)
    return choices
