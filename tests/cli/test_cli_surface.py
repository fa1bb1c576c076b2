"""The CLI as a whole: `--version`, examples in every help, one meaning per short flag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import kecpm
from kecpm.cli import app

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``cmd`` (itself first), with the words that invoke it (typer's own
    click classes: no isinstance checks against the click package)."""
    yield path, cmd
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def test_the_walk_sees_every_registered_command():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"build-splits", "data fetch", "data stats", "evaluate", "gen-knowledge", "import-knowledge",
            "cache stats", "cache clear", "options", "train", "pretrain-entities", "predict", "report",
            "compare"} <= names


def test_version_prints_the_package_version_and_exits_0():
    res = CliRunner().invoke(app, ["--version"], env=ENV)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"kecpm {kecpm.__version__}"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "kecpm")
def test_every_help_has_examples(path):
    res = CliRunner().invoke(app, [*path, "--help"], env=ENV)
    assert res.exit_code == 0, res.output
    assert "Example" in res.output, f"kecpm {' '.join(path)} --help shows no example"


def test_each_short_flag_has_one_meaning_across_commands():
    """A short flag (-k, -o, ...) is the same option wherever it appears: every option that has it shares
    a long name (e.g. -k is --shots in train and --k/--shots in build-splits)."""
    uses: dict[str, list[tuple[str, set[str]]]] = {}
    for path, cmd in COMMANDS:
        seen: set[str] = set()
        for param in cmd.params:
            if param.param_type_name != "option":
                continue
            flags = [*param.opts, *param.secondary_opts]
            shorts = [f for f in flags if re.fullmatch(r"-[^-]", f)]
            longs = {f for f in flags if f.startswith("--")}
            for s in shorts:
                assert s not in seen, f"kecpm {' '.join(path)}: {s} twice"
                seen.add(s)
                uses.setdefault(s, []).append((" ".join(path) or "kecpm", longs))
    assert uses, "no short flags found: the walk is broken"
    for short, where in uses.items():
        shared = set.intersection(*(longs for _, longs in where))
        assert shared, f"{short} means different options: " + "; ".join(
            f"{cmd}: {'/'.join(sorted(longs))}" for cmd, longs in where)


def test_k_means_the_k_of_k_shot_splits():
    opts = {" ".join(p): c for p, c in COMMANDS}
    k_of = {name: next(p for p in cmd.params if "-k" in getattr(p, "opts", [])).name
            for name, cmd in opts.items() if any("-k" in getattr(p, "opts", []) for p in cmd.params)}
    assert k_of == {"train": "shots", "build-splits": "k"}
    assert any("--n-demos" in getattr(p, "opts", []) for p in opts["gen-knowledge"].params)
