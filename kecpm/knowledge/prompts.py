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
            template = env.get_template(path.name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"{path}:{e.lineno}: template syntax error: {e.message}") from e
        return cls(path, path.read_text(encoding="utf-8"), template)

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Render to ``[{"role": "user", "content": ...}]``; errors name the file and line."""
        try:
            text = self.template.render(**variables)
        except jinja2.TemplateError as e:
            line = _line_of(e, self.path)
            where = f"{self.path}:{line}" if line else str(self.path)
            raise TemplateError(f"{where}: template error: {e}") from e
        return [{"role": "user", "content": text.strip()}]
