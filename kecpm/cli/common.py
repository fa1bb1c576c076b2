"""Shared CLI helpers: logging, readable errors, the rich console."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from kecpm.config import ConfigError
from kecpm.data.errors import DataError

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)], force=True,
    )


def friendly_errors(func: F) -> F:
    """Turn expected user errors into one red line and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, ConfigError, FileNotFoundError, ValueError, OSError) as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(1) from e

    return wrapper  # type: ignore[return-value]


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
