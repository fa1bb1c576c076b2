"""`kecpm options`: every section's options come from the config classes (one owner)."""

from __future__ import annotations

from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.cli.options_cmds import sections
from kecpm.model.config import ModelConfig


def test_options_lists_a_section_with_defaults_and_help():
    res = CliRunner().invoke(app, ["options", "model"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for name in ModelConfig.defaults():
        assert name in res.output
    assert "Warm start" in res.output and '"jmere"' in res.output


def test_every_backend_has_an_options_section_and_unknown_sections_are_named():
    assert {"model", "train", "knowledge", "backend.vllm", "backend.openai", "backend.dummy"} <= set(sections())
    res = CliRunner().invoke(app, ["options", "modle"])
    assert res.exit_code == 1 and "no config section 'modle'" in res.output and "backend.vllm" in res.output
