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
