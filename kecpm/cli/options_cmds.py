"""``kecpm options``: every option of every config section, with its default and help (one owner:
the config dataclasses)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kecpm.cli.common import friendly_errors
from kecpm.config import Config, ConfigError


def sections() -> dict[str, type[Config]]:
    """Section name (as in ``--set section.option=value``) -> config class."""
    from kecpm.knowledge.backends import REGISTRY, backend_class
    from kecpm.knowledge.config import KnowledgeConfig
    from kecpm.model.config import ModelConfig
    from kecpm.train.adapt import AdaptConfig
    from kecpm.train.config import TrainConfig

    out: dict[str, type[Config]] = {"model": ModelConfig, "train": TrainConfig, "adapt": AdaptConfig,
                                    "knowledge": KnowledgeConfig}
    out.update({f"backend.{name}": backend_class(name).Options for name in REGISTRY})
    from kecpm.align_config import AlignConfig  # kecpm pretrain-align

    out["align"] = AlignConfig
    return out


@friendly_errors
def options(section: str | None = typer.Argument(
        None, help="model | train (kecpm train, pretrain-entities), adapt (kecpm train), align (pretrain-align), "
                   "knowledge | backend.<name> (gen-knowledge); default: all.")) -> None:
    """List the options of a config section: name, default, help. Set them with --set section.option=value
    (backend.<name> options are set as backend.<option>) or in a --config file.

    Examples:

      kecpm options model

      kecpm options backend.vllm
    """
    out = Console(emoji=False)  # the listing is the command's output: stdout, so it can be redirected; data escaped
    known = sections()
    if section is not None and section not in known:
        raise ConfigError(f"no config section {section!r}; known: {', '.join(known)}")
    for name, cls in known.items():
        if section not in (None, name):
            continue
        table = Table(title=f"{name} ({cls.__name__})", title_justify="left")
        for col in ("option", "default", "help"):
            table.add_column(col, overflow="fold")
        helps = cls.help()
        for opt, default in cls.defaults().items():
            value = getattr(default, "value", default)
            table.add_row(opt, escape(json.dumps(value)), escape(helps[opt]))
        out.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("options")(options)
