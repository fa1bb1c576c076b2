"""Every command that reads posts, on every kind of bad input of the README's "Errors" section.

Each cell runs the real command (typer's CliRunner, in process) and asserts: a non-zero exit, exactly
one ``error:`` line naming the file (and the line where there is one), and no traceback. A new
command that reads posts belongs in COMMANDS; a new kind of bad input in KINDS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kecpm.cli import app

runner = CliRunner()
WORDS = ["Barack", "Obama", "visits", "Paris", "today"]


def post_line(i: int, relation: str = "present_in", tokens: object = None, tail: tuple[int, int] = (3, 4)) -> bytes:
    """One canonical JSONL post (image ``i``), a triple per|present_in|loc."""
    rec = {"tokens": WORDS if tokens is None else tokens, "img_id": f"img{i}.jpg",
           "triples": [{"head": {"start": 0, "end": 2, "type": "per"}, "relation": relation,
                        "tail": {"start": tail[0], "end": tail[1], "type": "loc"}}]}
    return (json.dumps(rec) + "\n").encode()


GOOD = b"".join(post_line(i) for i in range(3))
# kind -> (file bytes, what the one error line must hold after the file name)
KINDS: dict[str, tuple[bytes, str]] = {
    "bad-json": (post_line(0) + b'{"tokens": \n', ':2: not valid JSON: Expecting value (column 12)'),
    "not-utf8": (post_line(0) + post_line(1).replace(b"Paris", b"Par\xe9s"), ":2: not UTF-8 text (byte 0xe9"),
    "tokens-string": (post_line(0, tokens="a string"), ':1: "tokens" must be a list of words, got a string'),
    "not-an-object": (b"[1, 2]\n", ":1: expected a JSON object"),
    "span-out-of-range": (post_line(0, tail=(3, 9)), ":1: post "),
    # markup and an emoji code in the data, on line 100 (":100:" is rich's emoji code for 💯)
    "markup-line-100": (b"".join(post_line(i) for i in range(99)) + post_line(99, relation="[/b]:100:"),
                        ":100: post "),
    "empty": (b"", ": the file is empty"),
    "missing": (b"", ": file not found"),
}


def _split(folder: Path, part: str, data: bytes | None) -> Path:
    """A split folder with good train/val/test.jsonl, ``part`` replaced by ``data`` (None: absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in ("train", "val", "test"):
        (folder / f"{p}.jsonl").write_bytes(GOOD)
    if data is None:
        (folder / f"{part}.jsonl").unlink()
    else:
        (folder / f"{part}.jsonl").write_bytes(data)
    return folder / f"{part}.jsonl"


def _file(tmp: Path, data: bytes | None, name: str = "posts.jsonl") -> Path:
    path = tmp / name
    if data is not None:
        path.write_bytes(data)
    return path


def _source(tmp: Path) -> Path:
    """A JMERE file with knowledge for the good posts (the import-knowledge source)."""
    rec = {"token": WORDS, "img_id": "img0.jpg", "knowledge": ["Paris is in France."], "label_list": []}
    path = tmp / "know_ofa_knowledge.json"
    path.write_text(json.dumps([rec]))
    return path


# command -> builds (args, the bad file) in a temporary folder from the bad file's bytes (None: absent)
Build = Callable[[Path, "bytes | None"], tuple[list[str], Path]]
COMMANDS: dict[str, Build] = {
    "data stats": lambda t, d: (["data", "stats", str(f := _file(t, d))], f),
    "evaluate --gold": lambda t, d: (["evaluate", "--gold", str(f := _file(t, d)), "--pred",
                                      str(_file(t, GOOD, "good.jsonl")), "--out", str(t / "r.json")], f),
    "evaluate --pred": lambda t, d: (["evaluate", "--gold", str(_file(t, GOOD, "good.jsonl")), "--pred",
                                      str(f := _file(t, d)), "--out", str(t / "r.json")], f),
    "gen-knowledge": lambda t, d: (["gen-knowledge", "-i", str(f := _file(t, d)), "--backend", "dummy", "--n-demos", "0",
                                    "--no-reflect", "--no-progress", "-o", str(t / "k.jsonl"),
                                    "--cache-dir", str(t / "cache")], f),
    "import-knowledge": lambda t, d: (["import-knowledge", str(t / "split"), "--source", str(_source(t)),
                                       "-o", str(t / "k.jsonl")], _split(t / "split", "test", d)),
    "train": lambda t, d: (["train", "--splits-dir", str(t / "splits"), "--out", str(t / "runs"), "--epochs", "1",
                            "--no-image", "--no-knowledge"], _split(t / "splits" / "seed1", "train", d)),
    "predict": lambda t, d: (["predict", str(t / "no-model"), str(f := _file(t, d)), "-o", str(t / "p.jsonl")], f),
}
# cells whose documented behaviour differs from "exit 1, one error line: <file><message>":
# (command, kind) -> ("error", text of the error line) | ("skipped", then the error line) | ("ok", "")
ALL_BAD = "{file}: no posts left: all 1 record(s) are bad (line 1: "
EXPECT: dict[tuple[str, str], tuple[str, str]] = {
    # predict skips bad records (a "skipped: FILE:LINE: ..." line each) and goes on with the rest; here
    # the rest meets a model folder that is not there
    ("predict", "bad-json"): ("skipped", "no-model: not a saved model"),
    ("predict", "not-utf8"): ("skipped", "no-model: not a saved model"),
    ("predict", "tokens-string"): ("error", ALL_BAD + '"tokens" must be a list of words'),
    ("predict", "not-an-object"): ("error", ALL_BAD + "expected a JSON object"),
    ("predict", "span-out-of-range"): ("error", ALL_BAD + "post "),
    ("predict", "markup-line-100"): ("error", "no-model: not a saved model"),  # input labels are not checked
    # an absent or empty part of a split folder: the other parts are used (a warning for an empty one)
    ("import-knowledge", "empty"): ("ok", ""),
    ("import-knowledge", "missing"): ("ok", ""),
    # a split folder without its train file is named by its folder
    ("train", "missing"): ("error", "{file.parent}: no train file"),
}


def check_one_line_error(result: Result, *expected: str) -> str:
    """The run failed cleanly: exit code 1, no traceback, exactly one error line holding ``expected``."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for text in expected:
        assert text in errors[0], result.output
    return errors[0]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_input_gives_one_line(command: str, kind: str, tmp_path: Path) -> None:
    data, message = KINDS[kind]
    args, bad_file = COMMANDS[command](tmp_path, None if kind == "missing" else data)
    result = runner.invoke(app, args)
    mode, text = EXPECT.get((command, kind), ("error", "{file}" + message))
    if mode == "ok":
        assert result.exit_code == 0, result.output
    else:
        check_one_line_error(result, text.format(file=bad_file))
    if mode == "skipped":
        assert f"skipped: {bad_file}{message}" in result.output, result.output
    if kind == "markup-line-100":
        assert "💯" not in result.output
        assert "[/b]:100:" in result.output or command == "predict"


@pytest.mark.parametrize("command", ["data stats", "evaluate --gold"])
def test_skip_bad_skips_and_counts_undecodable_lines(command: str, tmp_path: Path) -> None:
    data = GOOD + b'{"tokens": ["Caf\xe9"], "img_id": "z"}\n' + post_line(7)
    args, bad_file = COMMANDS[command](tmp_path, data)
    result = runner.invoke(app, [*args, "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert f"{bad_file}: skipped 1 bad line(s); first: {bad_file}:4: not UTF-8 text" in result.output


def test_duplicate_ids_name_the_file(tmp_path: Path) -> None:
    dup = _file(tmp_path, GOOD + post_line(1), "dup.jsonl")
    good = _file(tmp_path, GOOD, "good.jsonl")
    result = runner.invoke(app, ["evaluate", "--gold", str(good), "--pred", str(dup), "--out", str(tmp_path / "r")])
    check_one_line_error(result, f"{dup}: 1 post id(s) occur more than once")
    assert "<input>" not in result.output
    stats = runner.invoke(app, ["data", "stats", str(dup)])
    assert stats.exit_code == 0, stats.output
    assert f"{dup}: 1 post id(s) occur more than once" in stats.output and "counted once" in stats.output
    assert "│     3 │" in stats.output  # 3 posts, not 4


def test_json_list_error_has_no_at_at(tmp_path: Path) -> None:
    path = _file(tmp_path, b'[{"token": ["ab', "k.json")
    line = check_one_line_error(runner.invoke(app, ["data", "stats", str(path)]), f"{path}:1: not valid JSON")
    assert "at at" not in line and "Unterminated string starting at (column" in line


@pytest.mark.parametrize(("option", "message"), [
    ("model.max_span_width=abc", "ModelConfig.max_span_width: expected int, got 'abc'"),
    ("train.epochs=null", "TrainConfig.epochs: expected int, got None"),
])
def test_bad_config_values_are_one_line(option: str, message: str, tmp_path: Path) -> None:
    _split(tmp_path / "splits" / "seed1", "train", GOOD)
    result = runner.invoke(app, ["train", "--splits-dir", str(tmp_path / "splits"), "--out", str(tmp_path / "runs"),
                                 "--set", option])
    check_one_line_error(result, message)


@pytest.mark.parametrize(("template", "message"), [
    (b"Text: {{ post.text }}\n{{ 1 // 0 }}\n", ":2: template error (ZeroDivisionError)"),
    (b"Text: {{ post.text }}\n{{ nope }}\n", ":2: template error: 'nope' is undefined"),
    (b"Text: \xe9 {{ post.text }}\n", ":1: not UTF-8 text"),
])
def test_broken_template_is_one_line(template: bytes, message: str, tmp_path: Path) -> None:
    path = _file(tmp_path, template, "t.jinja")
    args, _ = COMMANDS["gen-knowledge"](tmp_path, GOOD)
    check_one_line_error(runner.invoke(app, [*args, "--template", str(path)]), f"{path}{message}")


def mnre_line(i: int, relation: str = "/per/loc/present_in", tokens: str = repr(WORDS)) -> bytes:
    return (f"{{'token': {tokens}, 'h': {{'name': 'Barack Obama', 'pos': [0, 2]}}, 't': {{'name': 'Paris', "
            f"'pos': [3, 4]}}, 'img_id': 'img{i}.jpg', 'relation': '{relation}'}}\n").encode()


CONLL_GOOD = b"IMGID:1\nBarack\tB-PER\nObama\tI-PER\nvisits\tO\nParis\tB-LOC\n\n"
# source files read from a data folder: (command, kind) -> (file bytes, text of the error line after the file)
SOURCES: dict[tuple[str, str], tuple[bytes, str]] = {
    ("build-splits", "not-utf8"): (mnre_line(0) + mnre_line(1).replace(b"Paris'", b"Par\xe9s'"), ":2: not UTF-8"),
    ("build-splits", "bad-literal"): (mnre_line(0) + b"{'token': ['a'\n", ":2: not a Python dict literal"),
    ("build-splits", "tokens-string"): (mnre_line(0, tokens="'a string'"), ':1: "token" must be a list of words'),
    ("build-splits", "markup-line-100"): (b"".join(mnre_line(i) for i in range(99)) + mnre_line(99, "/per/loc/[b]x:100:"),
                                         ":100: unknown relation '[b]x:100:'"),
    ("pretrain-entities", "not-utf8"): (CONLL_GOOD + b"IMGID:2\nCaf\xe9\tB-LOC\n", ":8: not UTF-8 text"),
    ("pretrain-entities", "bad-tag"): (CONLL_GOOD + b"IMGID:2\nParis\tB-CITY\n", ":8: expected 'token<TAB>BIO-tag'"),
    ("pretrain-entities", "empty"): (b"", ": the file is empty"),
}


def _sources(command: str, tmp: Path, data: bytes) -> tuple[list[str], Path]:
    if command == "build-splits":
        folder = tmp / "mnre"
        folder.mkdir()
        for name in ("mnre_train.txt", "mnre_val .txt", "mnre_test.txt"):
            (folder / name).write_bytes(b"".join(mnre_line(i) for i in range(3)))
        (folder / "mnre_train.txt").write_bytes(data)
        return ["build-splits", "--data", str(folder), "--out", str(tmp / "out"), "--seeds", "1", "-q"], \
            folder / "mnre_train.txt"
    folder = tmp / "data" / "twitter2017"
    folder.mkdir(parents=True)
    for name in ("train.txt", "valid.txt", "test.txt"):
        (folder / name).write_bytes(CONLL_GOOD)
    (folder / "train.txt").write_bytes(data)
    return ["pretrain-entities", "--data", "twitter2017", "--data-dir", str(tmp / "data"),
            "--cache-dir", str(tmp / "cache")], folder / "train.txt"


@pytest.mark.parametrize(("command", "kind"), list(SOURCES))
def test_bad_source_file_gives_one_line(command: str, kind: str, tmp_path: Path) -> None:
    data, message = SOURCES[(command, kind)]
    args, bad_file = _sources(command, tmp_path, data)
    check_one_line_error(runner.invoke(app, args), f"{bad_file}{message}")
    assert not (tmp_path / "out").exists()  # nothing written


def test_build_splits_skip_bad_counts_undecodable_lines_and_warns_on_empty_train(tmp_path: Path) -> None:
    data, _ = SOURCES[("build-splits", "not-utf8")]
    args, bad_file = _sources("build-splits", tmp_path, data)
    result = runner.invoke(app, [*args, "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert f"skipped 1 bad line(s) in {bad_file.name}" in result.output
    bad_file.write_bytes(b"")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"warning: train: 0 posts: {bad_file} holds no post with a relation" in result.output
