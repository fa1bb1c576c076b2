"""Prompt templates: versioned Jinja files in ``prompts/``, rendered in a sandbox.

``--template knowledge.v1`` names a file in ``prompts/`` of the working directory (your edited
copies) or else in the package's own ``kecpm/prompts/`` (shipped in the wheel; the project's
top-level ``prompts/`` is a link to it); any other value is a path. Undefined variables are errors
naming the template file and line.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from kecpm.data.errors import DataError
from kecpm.data.lines import read_text

PACKAGE_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


class TemplateError(ValueError):
    """A template is missing or broken; the message names the file and line."""


def find_template(name: str | Path) -> Path:
    """Resolve a template name (``knowledge.v1``) or path to an existing file."""
    p = Path(name)
    if p.suffix == ".jinja" and p.exists():
        return p.resolve()
    if p.exists() and p.is_file():
        return p.resolve()
    candidates = [d / f"{name}.jinja" for d in (Path("prompts"), PACKAGE_PROMPTS)]
    for c in candidates:
        if c.exists():
            return c.resolve()
    tried = ", ".join(str(c) for c in [p, *candidates])
    raise TemplateError(f"template {str(name)!r} not found (tried {tried})")


def _line_of(exc: BaseException, path: Path) -> int | None:
    if getattr(exc, "lineno", None):
        return exc.lineno  # type: ignore[attr-defined]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename and Path(frame.filename).resolve() == path:
            return frame.lineno
    return None


@dataclass
class PromptTemplate:
    """One template file; ``render`` returns chat messages (one user message)."""

    path: Path
    text: str
    template: jinja2.Template

    @property
    def version(self) -> str:
        """The file name without ``.jinja``, e.g. ``knowledge.v1``."""
        return self.path.name.removesuffix(".jinja")

    @classmethod
    def load(cls, name: str | Path) -> PromptTemplate:
        path = find_template(name)
        env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(path.parent)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        try:
            text = read_text(path)
            template = env.get_template(path.name)
        except DataError as e:
            raise TemplateError(str(e)) from e
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"{path}:{e.lineno}: template syntax error: {e.message}") from e
        return cls(path, text, template)

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Render to ``[{"role": "user", "content": ...}]``; errors name the file and line."""
        try:
            text = self.template.render(**variables)
        except Exception as e:  # noqa: BLE001 - any error inside a template ({{ 1 // 0 }}) is the template's
            line = _line_of(e, self.path)
            where = f"{self.path}:{line}" if line else str(self.path)
            what = "template error" if isinstance(e, jinja2.TemplateError) else f"template error ({type(e).__name__})"
            raise TemplateError(f"{where}: {what}: {e}; fix the template") from e
        return [{"role": "user", "content": text.strip()}]
