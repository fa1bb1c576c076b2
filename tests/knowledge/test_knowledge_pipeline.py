"""Pipeline with the dummy backend: output, cache hits, resume, invalid answers, bad input."""

from __future__ import annotations

import json

import pytest
from knowledge_helpers import make_posts

from kecpm.data.errors import DataError
from kecpm.knowledge import load_knowledge
from kecpm.knowledge.backends.dummy import DummyBackend
from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.parse import parse_sentences
from kecpm.knowledge.pipeline import generate_knowledge, run
from kecpm.knowledge.prompts import PromptTemplate, TemplateError

CFG = KnowledgeConfig(backend="dummy", k=0, batch_size=4)


def test_run_writes_all_posts_and_rerun_is_all_hits(tiny_split, tmp_path):
    backend = DummyBackend()
    with AnswerCache(tmp_path / "c") as cache:
        s1 = run(CFG, tiny_split, backend=backend, cache=cache, progress=False)
        assert s1.posts == 12 and s1.cache_hits == 0 and s1.cache_misses == s1.prompts == 24
        assert backend.prompts == 24 and backend.calls == 6  # 12 knowledge + 12 reflect, batches of 4
        out = (tiny_split / "knowledge.jsonl").read_text()
        again = DummyBackend()
        s2 = run(CFG, tiny_split, backend=again, cache=cache, progress=False)
    assert again.calls == 0 and s2.model_calls == 0 and s2.cache_hits == 24
    assert (tiny_split / "knowledge.jsonl").read_text() == out
    recs = [json.loads(line) for line in out.splitlines()]
    assert len(recs) == 12 and all(r["template"] == "knowledge.v1" and r["reflect_template"] == "reflect.v1" for r in recs)
    assert all(r["knowledge"] for r in recs)
    # the dummy reflection drops the last sentence when there are several: the reflected list is what stage 2 gets
    mapping = load_knowledge(tiny_split)
    assert all(mapping[r["id"]] == r["reflected"] for r in recs)
    assert (tiny_split / "knowledge.config.json").exists()


def test_sampling_seed_and_template_change_the_key(tiny_split, tmp_path):
    with AnswerCache(tmp_path / "c") as cache:
        run(CFG, tiny_split, backend=DummyBackend(), cache=cache, progress=False)
        b = DummyBackend()
        s = run(CFG.replace(seed=1), tiny_split, backend=b, cache=cache, progress=False)
        assert s.cache_hits == 0 and b.prompts == 24
        s = run(CFG.replace(reflect=False), tiny_split, backend=DummyBackend(), cache=cache, progress=False)
        assert s.cache_hits == 12 and s.prompts == 12


def test_no_reflect_keeps_raw(tiny_split, tmp_path):
    with AnswerCache(tmp_path / "c") as cache:
        run(CFG.replace(reflect=False), tiny_split, backend=DummyBackend(), cache=cache, progress=False)
    recs = [json.loads(line) for line in (tiny_split / "knowledge.jsonl").read_text().splitlines()]
    assert all(r["reflected"] is None and r["reflect_template"] is None for r in recs)


def test_invalid_answers_are_counted_not_fatal(tmp_path):
    posts = make_posts(0, 12)
    with AnswerCache(tmp_path / "c") as cache:
        recs, s = generate_knowledge(posts, [], CFG.replace(reflect=False), backend=DummyBackend(bad_every=3),
                                     cache=cache, progress=False)
    bad = [r for r in recs if r["invalid"]]
    assert 0 < s.invalid_answers == len(bad) < 12
    assert all(r["knowledge"] == [] for r in bad)
    assert len(s.errors) == s.invalid_answers and "not JSON" in s.errors[0]


def test_parse_keeps_valid_items():
    p = parse_sentences('```json\n{"sentences": ["A is a city.", 3, "", "A is a city.", "B is a band."]}\n```')
    assert p.ok and p.sentences == ["A is a city.", "B is a band."] and p.invalid_items == 3
    assert parse_sentences('Sure! ["x is y."] hope it helps').sentences == ["x is y."]
    bad = parse_sentences("I do not know")
    assert not bad.ok and bad.sentences == []
    assert not parse_sentences('{"answer": "x"}').ok


def test_empty_text_post_is_a_clear_error_and_nothing_written(tiny_split, tmp_path):
    (tiny_split / "test.jsonl").write_text(
        (tiny_split / "test.jsonl").read_text() + json.dumps({"tokens": [" "], "img_id": "x.jpg"}) + "\n")
    with pytest.raises(DataError, match=r"test.jsonl:4: .*empty text"):
        run(CFG, tiny_split, backend=DummyBackend(), progress=False)
    assert not (tiny_split / "knowledge.jsonl").exists()


def test_template_with_undefined_variable_names_file_and_line(tiny_split, tmp_path):
    tpl = tmp_path / "mine.v1.jinja"
    tpl.write_text("Posts about {{ post.text }}\nand {{ not_a_variable }} here\n")
    with pytest.raises(TemplateError, match=r"mine.v1.jinja:2: .*not_a_variable"):
        run(CFG.replace(template=str(tpl)), tiny_split, backend=DummyBackend(), progress=False)
    broken = tmp_path / "broken.jinja"
    broken.write_text("ok\n{% for x in %}\n")
    with pytest.raises(TemplateError, match=r"broken.jinja:2: template syntax error"):
        PromptTemplate.load(broken)
    with pytest.raises(TemplateError, match="not found"):
        PromptTemplate.load("no_such_template.v9")
    assert not (tiny_split / "knowledge.jsonl").exists()


def test_sandbox_blocks_unsafe_attributes(tmp_path):
    tpl = tmp_path / "evil.jinja"
    tpl.write_text("{{ post.__class__.__mro__ }}")
    with pytest.raises(TemplateError):
        PromptTemplate.load(tpl).render(post={"text": "x"})


def test_knowledge_prompt_has_fixed_part_first():
    t = PromptTemplate.load("knowledge.v1")
    a, b = make_posts(0, 2)
    va = {"text": a.text, "caption": a.caption, "triples": []}
    vb = {"text": b.text, "caption": b.caption, "triples": []}
    kw = {"entity_types": ["person"], "relations": ["peer"], "max_sentences": 3}
    ma, mb = t.render(**kw, demos=[vb], post=va)[0]["content"], t.render(**kw, demos=[va], post=vb)[0]["content"]
    prefix = 0
    while prefix < min(len(ma), len(mb)) and ma[prefix] == mb[prefix]:
        prefix += 1
    assert prefix > 300  # instruction and label lists are shared
    assert ma.rstrip().endswith(a.caption) and "Example 1" in ma


def test_import_backend_writes_paper_knowledge(tmp_path):
    from kecpm.data.jsonl import write_jsonl

    posts = make_posts(0, 3)
    src = tmp_path / "train_ofa_knowledge.json"
    src.write_text("".join(json.dumps({"token": p.tokens, "img_id": p.img_id, "label_list": [],
                                       "knowledge": [f"fact {i}"]}) + "\n" for i, p in enumerate(posts[:2])))
    write_jsonl(tmp_path / "split" / "test.jsonl", posts)
    s = run(CFG.replace(backend="import", import_source=str(src)), tmp_path / "split", progress=False)
    assert s.no_knowledge == 1
    assert load_knowledge(tmp_path / "split") == {posts[0].id: ["fact 0"], posts[1].id: ["fact 1"], posts[2].id: []}


def test_templates_ship_in_the_package_and_a_local_copy_wins(tmp_path, monkeypatch):
    from kecpm.knowledge.prompts import PACKAGE_PROMPTS, find_template

    monkeypatch.chdir(tmp_path)  # no prompts/ here: the packaged templates are found
    assert find_template("knowledge.v1") == (PACKAGE_PROMPTS / "knowledge.v1.jinja").resolve()
    assert PACKAGE_PROMPTS.parent.name == "kecpm" and (PACKAGE_PROMPTS / "reflect.v1.jinja").is_file()
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "knowledge.v1.jinja").write_text("edited {{ post.text }}")
    assert find_template("knowledge.v1") == (tmp_path / "prompts" / "knowledge.v1.jinja").resolve()
    with pytest.raises(TemplateError, match="knowledge.v9"):
        find_template("knowledge.v9")
