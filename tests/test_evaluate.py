"""The scorer: gold against itself, and a perturbed set scored by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from kecpm.data import DataError, Entity, Post, Triple
from kecpm.data.mnre import read_mnre_split
from kecpm.evaluate import score


def E(start: int, end: int, etype: str, text: str = "") -> Entity:
    return Entity(start, end, etype, text)


TOKENS_A = "Alice Smith joined Acme ; Bob and Carol won".split()
TOKENS_B = "Paris in France : Dave in Dune".split()
# A: Alice Smith -member_of-> Acme ; Bob -peer-> Carol
# B: Paris -contain-> France ; Dave -present_in-> Dune
T1 = Triple(E(0, 2, "per", "Alice Smith"), "member_of", E(3, 4, "org", "Acme"))
T2 = Triple(E(5, 6, "per", "Bob"), "peer", E(7, 8, "per", "Carol"))
T3 = Triple(E(0, 1, "loc", "Paris"), "contain", E(2, 3, "loc", "France"))
T4 = Triple(E(4, 5, "per", "Dave"), "present_in", E(6, 7, "misc", "Dune"))


def gold() -> list[Post]:
    return [Post("a", TOKENS_A, "a.jpg", triples=[T1, T2]).with_entities_from_triples(),
            Post("b", TOKENS_B, "b.jpg", triples=[T3, T4]).with_entities_from_triples()]


def perturbed() -> list[Post]:
    """T1 right; T2 head and tail swapped; T3 with a wrong head type; T4 dropped."""
    swapped = Triple(T2.tail, "peer", T2.head)
    wrong_type = Triple(E(0, 1, "org", "Paris"), "contain", T3.tail)
    return [Post("a", TOKENS_A, "a.jpg", triples=[T1, swapped]).with_entities_from_triples(),
            Post("b", TOKENS_B, "b.jpg", triples=[wrong_type]).with_entities_from_triples()]


def test_gold_against_itself_is_perfect() -> None:
    s = score(gold(), gold())
    for prf in (s.entity, s.rel_strict, s.rel_boundary):
        assert (prf.precision, prf.recall, prf.f1) == (1.0, 1.0, 1.0)
    assert s.macro_f1 == 1.0
    assert s.to_dict()["rel_strict"]["n_gold"] == 4


def test_perturbed_set_hand_computed() -> None:
    s = score(gold(), perturbed())
    # entities: gold 8; predicted 6 (A's four, B: Paris/org wrong, France right) -> 5 correct
    assert (s.entity.tp, s.entity.n_pred, s.entity.n_gold) == (5, 6, 8)
    assert s.entity.precision == pytest.approx(5 / 6)
    assert s.entity.recall == pytest.approx(5 / 8)
    assert s.entity.f1 == pytest.approx(5 / 7)
    # strict: only T1 right (swap is wrong: direction matters; wrong type is wrong)
    assert (s.rel_strict.tp, s.rel_strict.n_pred, s.rel_strict.n_gold) == (1, 3, 4)
    assert s.rel_strict.f1 == pytest.approx(2 / 7)
    # boundary: T1 and the wrongly typed T3 are right; the swap is still wrong
    assert (s.rel_boundary.tp, s.rel_boundary.n_pred, s.rel_boundary.n_gold) == (2, 3, 4)
    assert s.rel_boundary.precision == pytest.approx(2 / 3)
    assert s.rel_boundary.recall == pytest.approx(1 / 2)
    assert s.rel_boundary.f1 == pytest.approx(4 / 7)
    # macro over the 4 gold relations: member_of 1, peer 0, contain 0, present_in 0
    assert {r: p.f1 for r, p in s.per_relation.items()} == {
        "member_of": 1.0, "peer": 0.0, "contain": 0.0, "present_in": 0.0}
    assert s.macro_f1 == pytest.approx(0.25)


def test_missing_prediction_counts_as_nothing_predicted() -> None:
    s = score(gold(), gold()[:1])
    assert (s.rel_strict.tp, s.rel_strict.n_pred, s.rel_strict.n_gold) == (2, 2, 4)
    assert s.rel_strict.precision == 1.0 and s.rel_strict.recall == 0.5


def test_prediction_for_unknown_post_is_an_error() -> None:
    with pytest.raises(DataError, match="not in gold"):
        score(gold(), [Post("zzz", ["x"], "z.jpg")])


def test_match_name_scores_lower_cased_strings_without_offsets() -> None:
    """Generative outputs carry names, not offsets: spans (0, 0) here, names in another case."""
    def by_name(t: Triple) -> Triple:
        return Triple(E(0, 0, t.head.type, t.head.text.upper()), t.relation, E(0, 0, t.tail.type, t.tail.text.lower()))

    pred = [Post(p.id, p.tokens, p.img_id, triples=[by_name(t) for t in p.triples]) for p in perturbed()]
    s = score(gold(), pred, match="name")
    assert (s.rel_strict.tp, s.rel_strict.n_pred) == (1, 3)
    assert s.rel_strict.f1 == pytest.approx(2 / 7)
    assert s.rel_boundary.f1 == pytest.approx(4 / 7)
    assert score(gold(), pred, match="span").rel_strict.tp == 0


def test_duplicate_ids_are_an_error() -> None:
    with pytest.raises(DataError, match="gold post id.* occur more than once"):
        score(gold() + gold()[:1], gold())
    with pytest.raises(DataError, match="predicted post id.* occur more than once"):
        score(gold(), gold() + gold()[1:])


def test_unknown_match_mode() -> None:
    with pytest.raises(ValueError, match="unknown match"):
        score(gold(), gold(), match="fuzzy")


@pytest.mark.realdata
def test_real_test_set_against_itself(shared_data: Path) -> None:
    posts = read_mnre_split(shared_data / "mnre", "test")
    s = score(posts, posts)
    assert s.rel_strict.n_gold == 640 and s.rel_strict.f1 == 1.0 and s.macro_f1 == 1.0
    assert len(s.per_relation) == 19


def test_macro_over_gold_or_all_relations() -> None:
    """Gold: 4 relations present, F1 1, 0, 0, 0. All: the same F1s over the 21 of the schema."""
    extra = Triple(E(0, 1, "loc", "Paris"), "locate_at", E(2, 3, "loc", "France"))  # predicted only
    pred = perturbed()
    pred[1].triples.append(extra)
    s = score(gold(), pred)
    assert s.per_relation["locate_at"].n_gold == 0 and s.per_relation["locate_at"].n_pred == 1
    assert s.macro("gold") == s.macro_f1 == pytest.approx(1 / 4)
    assert s.macro("all") == s.macro_f1_all == pytest.approx(1 / 21)
    assert score(gold(), gold()).macro("all") == pytest.approx(4 / 21)  # 17 relations absent: F1 0 each
    assert score(gold(), gold(), relations=("member_of", "peer")).macro("all") == 1.0
    d = s.to_dict()
    assert d["macro_f1"] == pytest.approx(1 / 4) and d["macro_f1_all"] == pytest.approx(1 / 21)
    with pytest.raises(ValueError, match="unknown macro"):
        s.macro("some")


def test_name_mode_predictions_outside_the_schema_are_false_positives() -> None:
    """Free-form output: an unknown relation and an unknown entity type are kept, and match nothing."""
    from kecpm.evaluate import free_form_post

    g = gold()[:1]
    obj = Post("a", TOKENS_A, "a.jpg", triples=[
        Triple(E(0, 0, "per", "alice smith"), "member_of", E(0, 0, "org", "acme")),  # right
        Triple(E(0, 0, "per", "alice smith"), "works_for", E(0, 0, "org", "acme")),  # unknown relation
        Triple(E(0, 0, "person", "bob"), "peer", E(0, 0, "per", "carol")),  # unknown entity type
    ]).to_dict()
    post = free_form_post(obj)
    assert len(post.triples) == 3
    s = score(g, [post], match="name")
    assert (s.rel_strict.tp, s.rel_strict.n_pred, s.rel_strict.n_gold) == (1, 3, 2)
    assert s.rel_strict.precision == pytest.approx(1 / 3)
    assert s.per_relation["works_for"].n_pred == 1 and s.per_relation["works_for"].n_gold == 0
    assert s.macro("gold") == pytest.approx(1 / 2)  # member_of 1, peer 0; works_for has no gold
    assert (s.entity.tp, s.entity.n_pred, s.entity.n_gold) == (3, 4, 4)  # bob/person matches no gold bob/per
    with pytest.raises(DataError, match="empty text"):
        free_form_post({"tokens": [], "triples": []})
