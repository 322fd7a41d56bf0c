"""Prompts live in prompts/ as Jinja files; this renders them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

import prompts

# The `prompts` package, wherever it is installed (a checkout or site-packages).
PROMPTS_DIR = Path(prompts.__file__).resolve().parent


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(name: str, **values: object) -> str:
    """Render prompts/<name>.j2 with `values`; a missing value is an error, not a blank."""
    return _environment().get_template(f"{name}.j2").render(**values).strip()
