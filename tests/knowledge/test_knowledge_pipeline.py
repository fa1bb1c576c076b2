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
    saved = json.loads((tiny_split / "knowledge.config.json").read_text())
    assert saved["knowledge"] == CFG.to_dict() and saved["backend"] == {"delay": 0.0, "bad_every": 0}


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
    p = parse_sentences('```json\n{"sentences": ["A is a city.", 3, "", "A is a city.", "B is a band."]}\n```', 4, 200)
    assert p.ok and p.sentences == ["A is a city.", "B is a band."] and p.invalid_items == 3
    assert parse_sentences('Sure! ["x is y."] hope it helps', 4, 200).sentences == ["x is y."]
    bad = parse_sentences("I do not know", 4, 200)
    assert not bad.ok and bad.sentences == []
    assert not parse_sentences('{"answer": "x"}', 4, 200).ok
    cut = parse_sentences('{"sentences": ["A is a city.", "B is a ba', 4, 200)  # cut off by the token limit
    assert cut.ok and cut.sentences == ["A is a city."] and cut.invalid_items == 1


@pytest.mark.parametrize(("max_sentences", "max_chars"), [(4, 200), (2, 10)])
def test_schema_and_parser_agree_on_the_limits(max_sentences, max_chars):
    from pydantic import ValidationError

    from kecpm.knowledge.parse import answer_model, schema_for

    schema = schema_for(max_sentences, max_chars)
    items = schema["properties"]["sentences"]
    assert schema["required"] == ["sentences"] and schema["additionalProperties"] is False
    assert (items["maxItems"], items["items"]["minLength"], items["items"]["maxLength"]) == (max_sentences, 1, max_chars)
    at_limit = [f"{i}" + "x" * (max_chars - 1) for i in range(max_sentences)]
    answer = json.dumps({"sentences": at_limit})
    answer_model(max_sentences, max_chars).model_validate_json(answer)  # the schema accepts it, and so does the parser
    assert parse_sentences(answer, max_sentences, max_chars).sentences == at_limit
    one_more = json.dumps({"sentences": [*at_limit, "extra"]})
    too_long = json.dumps({"sentences": ["y" * (max_chars + 1), *at_limit[1:]]})
    for bad, kept in ((one_more, at_limit), (too_long, at_limit[1:])):
        with pytest.raises(ValidationError):
            answer_model(max_sentences, max_chars).model_validate_json(bad)
        p = parse_sentences(bad, max_sentences, max_chars)
        assert p.ok and p.sentences == kept and p.invalid_items == 1


def test_prompts_use_the_label_words():
    from kecpm.knowledge.pipeline import _demo_vars

    class Recording(DummyBackend):
        def generate(self, batch, sampling, schema):  # noqa: ANN001, ANN202
            self.seen = [m[-1]["content"] for m in batch]
            return super().generate(batch, sampling, schema)

    backend = Recording()
    generate_knowledge(make_posts(0, 1), [], CFG.replace(reflect=False), backend=backend, progress=False)
    assert "other named thing" in backend.seen[0] and "alumni of school" in backend.seen[0]
    assert "miscellaneous" not in backend.seen[0]
    demo = _demo_vars(make_posts(0, 1)[0])["triples"][0]
    assert (demo["head_type"], demo["relation"], demo["tail_type"]) == ("person", "married couple", "person")


def test_empty_reflection_falls_back_to_raw_and_is_not_counted_as_without_knowledge(tiny_split, tmp_path):
    class EmptyReflection(DummyBackend):
        def _answer(self, messages):  # noqa: ANN001, ANN202
            return '{"sentences": []}' if "Knowledge:" in messages[-1]["content"] else super()._answer(messages)

    with AnswerCache(tmp_path / "c") as cache:
        s = run(CFG, tiny_split, backend=EmptyReflection(), cache=cache, progress=False)
    recs = [json.loads(line) for line in (tiny_split / "knowledge.jsonl").read_text().splitlines()]
    assert all(r["reflected"] == [] and r["knowledge"] for r in recs)
    assert s.no_knowledge == 0
    assert load_knowledge(tiny_split) == {r["id"]: r["knowledge"] for r in recs}


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
