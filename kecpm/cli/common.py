"""Shared CLI helpers: logging, readable errors, the rich console.

The console never reads markup or emoji codes from strings: a relation name, file name, template
error or LLM answer holding ``[/b]`` or ``:100:`` is printed as it is. Style comes only from
``say``'s arguments (or rich objects built in code), never from text.

Results (score tables, summaries) go to stdout through ``stdout``, so ``kecpm evaluate ... > f``
keeps them; logs, progress and messages go to stderr through ``console``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from kecpm.config import ConfigError
from kecpm.data.errors import DataError

console = Console(stderr=True, markup=False, emoji=False)  # logs, progress, messages
stdout = Console(markup=False, emoji=False)  # results: tables a user may redirect to a file
F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, markup=False)], force=True,
    )


def say(message: object, style: str | None = None, label: str | None = None) -> None:
    """Print one line to stderr as plain text: ``label`` (if any) in ``style`` then the message, or the
    whole message in ``style``. Nothing in ``message`` is read as markup."""
    text = Text()
    if label:
        text.append(label, style=style)
        text.append(" ")
    text.append(str(message), style=None if label else style)
    console.print(text, highlight=False, soft_wrap=True)


def friendly_errors(func: F) -> F:
    """Turn expected user errors into one red line and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, ConfigError, FileNotFoundError, ValueError, OSError) as e:
            say(one_line(e), "bold red", "error:")
            raise typer.Exit(1) from e

    return wrapper  # type: ignore[return-value]


def one_line(error: object) -> str:
    """An error (or any message) on one line: a multi-line message is joined with " | "."""
    return " | ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def config_flag(cls: type, name: str, *flags: str) -> Any:
    """A typer option for config field ``name`` of ``cls``: help and default come from the config (one
    owner); its value is None when not given, so a ``--config`` file is not overridden by a default."""
    default = getattr(cls.defaults()[name], "value", cls.defaults()[name])
    return typer.Option(None, *flags, help=f"{cls.help()[name]} \\[default: {default!r}]", show_default=False)


def config_file_option() -> Any:
    return typer.Option(None, "--config", "-c", exists=True, dir_okay=False,
                        help="JSON config of sections (e.g. a config.json saved beside an earlier output); "
                             "flags and --set win over it.")


def set_option(sections: tuple[str, ...], example: str) -> Any:
    names = "|".join(sections)
    return typer.Option([], "--set", help=f"Any option, repeatable: <{names}>.<option>=<value> (JSON values), "
                                          f"e.g. --set {example}. `kecpm options` lists them with their help.")
