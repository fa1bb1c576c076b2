"""knowledge.format=hints: the answer model and its lenient parser, the prompt, the dummy backend's
answers, records with hints, and the sentences format left exactly as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from types import SimpleNamespace

import pytest
from knowledge_helpers import make_posts
from pydantic import ValidationError
from typer.testing import CliRunner

from kecpm.config import ConfigError
from kecpm.data.labels import relation_words, type_words
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Hint
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, read_records
from kecpm.knowledge.backends.dummy import DummyBackend
from kecpm.knowledge.cache import AnswerCache, canonical_json
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.hints import demo_answer, hint_sentence, hints_model, hints_schema, parse_hints
from kecpm.knowledge.parse import schema_for
from kecpm.knowledge.pipeline import _demo_vars, _demos_vars, generate_knowledge, run
from kecpm.knowledge.prompts import PromptTemplate

CFG = KnowledgeConfig(backend="dummy", k=0, batch_size=4)
HINTS = CFG.replace(format="hints")
# Computed with the code before knowledge.format existed (same posts, config and dummy backend).
OLD_PROMPTS = "dcc0493feaa8ff8ac48f66f3da20757e96661cf56de1211c6ac142404e365b7e"
OLD_KEYS = "6ac11f37307a71b8fd705ac6eb037c177b5d20eef6e234ebae123a6f930f244a"
OLD_RECORDS = "4214f59a0af7f2bcb152fda64e26d210610f1db533073c4939d246819b6c2310"


def _item(entity: str, type_: str = "person", about: str = "A fact.") -> dict[str, str]:
    return {"entity": entity, "type": type_, "about": about}


def test_parser_keeps_valid_hints_and_counts_the_rest():
    answer = json.dumps({"entities": [
        _item("Rafael  Nadal", "Person", "Spanish   tennis player."), _item("Mallorca", "place", ""),
        _item("ATP", "organisation"), _item("Wimbledon", "event"),  # unknown type
        {**_item("Roland Garros"), "score": 1},  # extra key
        _item("rafael nadal"),  # the same entity again
        _item(""), _item("x" * 101), _item("Spain", "loc", "y" * 201), "Spain", {"entity": "Spain"},  # no type
        {"entity": "Spain", "type": "Other"},  # a missing fact is an empty one
    ]})
    p = parse_hints(answer, 4, 200)
    assert p.ok and p.invalid_items == 8
    assert p.hints == [Hint("Rafael Nadal", "per", "Spanish tennis player."), Hint("Mallorca", "loc", ""),
                       Hint("ATP", "org", "A fact."), Hint("Spain", "misc", "")]


def test_parser_reads_fenced_prose_wrapped_and_truncated_answers():
    body = json.dumps({"entities": [_item("Paris", "location", "Capital of France.")]})
    assert parse_hints(f"```json\n{body}\n```", 4, 200).hints == [Hint("Paris", "loc", "Capital of France.")]
    assert parse_hints(f"Sure! {body} Hope it helps.", 4, 200).hints == [Hint("Paris", "loc", "Capital of France.")]
    assert parse_hints(json.dumps([_item("NASA", "ORG")]), 4, 200).hints == [Hint("NASA", "org", "A fact.")]
    cut = parse_hints('{"entities": [{"entity": "NASA", "type": "org", "about": "US space agency."}, '
                      '{"entity": "Flor', 4, 200)  # cut off by the token limit
    assert cut.ok and cut.hints == [Hint("NASA", "org", "US space agency.")] and cut.invalid_items == 1
    fenced_cut = parse_hints('```json\n{"entities": [{"entity": "NASA", "type": "misc", "about": ""}, {"ent', 4, 200)
    assert fenced_cut.hints == [Hint("NASA", "misc", "")] and fenced_cut.invalid_items == 1
    early = parse_hints('{"entities": [{"entity": "NA', 4, 200)
    assert not early.ok and "cut off" in early.error
    for bad in ("I do not know", '{"sentences": ["x."]}', '{"entities": "Paris"}'):
        p = parse_hints(bad, 4, 200)
        assert not p.ok and p.hints == [] and p.error


def test_parser_keeps_at_most_max_items():
    answer = json.dumps({"entities": [_item(f"E{i}") for i in range(5)]})
    p = parse_hints(answer, 3, 200)
    assert [h.entity for h in p.hints] == ["E0", "E1", "E2"] and p.invalid_items == 2


@pytest.mark.parametrize(("max_items", "max_chars"), [(4, 200), (2, 10)])
def test_schema_and_parser_agree_on_the_limits(max_items, max_chars):
    schema = hints_schema(max_items, max_chars)
    assert schema["required"] == ["entities"] and schema["additionalProperties"] is False
    assert schema["properties"]["entities"]["maxItems"] == max_items
    [item] = schema["$defs"].values()
    assert item["additionalProperties"] is False and item["required"] == ["entity", "type", "about"]
    props = item["properties"]
    assert (props["entity"]["minLength"], props["entity"]["maxLength"], props["about"]["maxLength"]) == (1, 100, max_chars)
    at_limit = [_item(f"{i}" + "x" * 99, "per", "y" * max_chars) for i in range(max_items)]
    answer = json.dumps({"entities": at_limit})
    hints_model(max_items, max_chars).model_validate_json(answer)  # the schema accepts it, and so does the parser
    assert len(parse_hints(answer, max_items, max_chars).hints) == max_items
    for bad in ({"entities": [*at_limit, _item("extra")]}, {"entities": at_limit, "note": "x"},
                {"entities": [{**at_limit[0], "about": "z" * (max_chars + 1)}]}):
        with pytest.raises(ValidationError):
            hints_model(max_items, max_chars).model_validate_json(json.dumps(bad))


def test_config_default_template_follows_the_format():
    assert CFG.template is None and CFG.prompt_template == "knowledge.v1" and CFG.format == "sentences"
    assert HINTS.prompt_template == "hints.v1" and HINTS.replace(template="mine.jinja").prompt_template == "mine.jinja"
    with pytest.raises(ConfigError, match="format: 'xml' is not one of sentences, hints"):
        KnowledgeConfig(format="xml")
    with pytest.raises(ConfigError, match="knowledge.v1 is the sentences prompt"):
        KnowledgeConfig(format="hints", template="knowledge.v1")


def test_sentences_format_gives_the_old_prompts_keys_and_records(tmp_path):
    posts = make_posts(0, 12)
    template = PromptTemplate.load(CFG.prompt_template)
    labels = {"entity_types": [type_words(t) for t in ENTITY_TYPES], "max_sentences": CFG.max_sentences,
              "relations": [relation_words(r) for r in RELATIONS]}
    convs = [template.render(**labels, demos=_demos_vars(posts[i + 1:i + 3], CFG), post=_demo_vars(p))
             for i, p in enumerate(posts[:6])]
    assert hashlib.sha256(canonical_json(convs).encode()).hexdigest() == OLD_PROMPTS
    with AnswerCache(tmp_path / "c") as cache:
        recs, _ = generate_knowledge(posts, [], CFG, backend=DummyBackend(), cache=cache, progress=False)
    keys = sorted(k for (k,) in sqlite3.connect(tmp_path / "c" / "knowledge.sqlite").execute("SELECT key FROM answers"))
    assert hashlib.sha256("".join(keys).encode()).hexdigest() == OLD_KEYS
    assert hashlib.sha256(canonical_json(recs).encode()).hexdigest() == OLD_RECORDS
    assert all("hints" not in r for r in recs)


def test_hints_prompt_shows_demos_gold_entities_and_keeps_the_fixed_part_first():
    posts = make_posts(0, 3)
    answer = json.loads(demo_answer(posts[0], 4, 200))
    assert answer == {"entities": [
        {"entity": "Barack Obama", "type": "person", "about": "Barack Obama married couple Michelle Obama"},
        {"entity": "Michelle Obama", "type": "person", "about": "Barack Obama married couple Michelle Obama"}]}
    assert parse_hints(json.dumps(answer), 4, 200).ok  # demonstrations answer in the format asked for
    assert len(json.loads(demo_answer(posts[0], 1, 10))["entities"][0]["about"]) == 10
    t = PromptTemplate.load(HINTS.prompt_template)
    kw = {"entity_types": ["person", "location"], "relations": ["peer"], "max_sentences": 3}
    a = t.render(**kw, demos=_demos_vars(posts[1:2], HINTS), post=_demo_vars(posts[0]))[0]["content"]
    b = t.render(**kw, demos=_demos_vars(posts[2:3], HINTS), post=_demo_vars(posts[1]))[0]["content"]
    assert a.index("Example 1") == b.index("Example 1") and a[: a.index("Example 1")] == b[: b.index("Example 1")]
    assert "person, location" in a and '"entity": "Lionel Messi"' in a and "At most 3 entities" in a
    assert a.rstrip().endswith(posts[0].caption) and "Barack Obama" not in a.split("Post\n")[0]


def test_gen_knowledge_with_hints_writes_hints_and_entity_sentences(tiny_split, tmp_path, caplog):
    with AnswerCache(tmp_path / "c") as cache:
        old = run(CFG.replace(reflect=False), tiny_split, backend=DummyBackend(), cache=cache, progress=False)
        backend = DummyBackend()
        with caplog.at_level("INFO", logger="kecpm.knowledge.pipeline"):
            s = run(HINTS, tiny_split, backend=backend, cache=cache, progress=False)
        again = run(HINTS, tiny_split, backend=DummyBackend(), cache=cache, progress=False)
    assert old.cache_misses == 12 and s.cache_hits == 0 and s.cache_misses == 12  # other cache keys
    assert again.cache_hits == 12 and again.model_calls == 0
    assert backend.prompts == 12 and backend.last_schema == hints_schema(4, 200)  # no reflection pass
    assert "no self-reflection" in caplog.text
    recs = read_records(tiny_split)
    assert all(r["template"] == "hints.v1" and r["reflected"] is None and r["reflect_template"] is None for r in recs)
    assert all(r["hints"] and r["knowledge"] == [hint_sentence(Hint(**h)) for h in r["hints"]] for r in recs)
    assert {h["type"] for r in recs for h in r["hints"]} == {"per", "org", "loc"}
    assert s.invalid_items == sum(1 for line in _answers(tmp_path) if "planet" in line) > 0
    first = recs[0]["hints"][0]
    assert recs[0]["knowledge"][0] == f"{first['entity']}: {first['about']}"
    assert json.loads((tiny_split / "knowledge.config.json").read_text())["knowledge"]["format"] == "hints"
    posts = attach_knowledge(make_posts(0, 12), knowledge_map(recs), hints=hints_map(recs))
    assert all(p.hints and p.hints[0].type == "per" and p.knowledge for p in posts)


def _answers(tmp_path) -> list[str]:
    db = sqlite3.connect(tmp_path / "c" / "knowledge.sqlite")
    return [a for (a,) in db.execute("SELECT answer FROM answers") if a.startswith('{"entities"')]


def test_backends_without_a_grammar_start_the_answer_in_its_format():
    from kecpm.knowledge.backends import backend_class, backend_options

    ref = SimpleNamespace(model_id="m", weights="w", path="/nowhere")
    for name, options in (("transformers", {}), ("vllm", {"json_mode": "prefix"})):
        cls = backend_class(name)
        opts = backend_options(name, options)
        assert cls.from_config(ref, CFG, opts).prefix == '{"sentences": ["'
        assert cls.from_config(ref, HINTS, opts).prefix == '{"entities": [{"entity": "'
    assert schema_for(4, 200) != hints_schema(4, 200)


def test_cli_format_flag_and_set_option(tiny_split, tmp_path):
    from kecpm.cli import app

    base = ["gen-knowledge", str(tiny_split), "--backend", "dummy", "--n-demos", "0", "--no-progress",
            "--cache-dir", str(tmp_path / "c")]
    r = CliRunner().invoke(app, [*base, "--format", "hints"])
    assert r.exit_code == 0, r.output
    flag = (tiny_split / "knowledge.jsonl").read_text()
    assert '"hints"' in flag
    r = CliRunner().invoke(app, [*base, "--set", "knowledge.format=hints", "-o", str(tmp_path / "k.jsonl")])
    assert r.exit_code == 0 and "│ model calls             │ 0" in r.output, r.output
    assert (tmp_path / "k.jsonl").read_text() == flag
