"""Prompt templates: TOML files in prompts/, loaded by name, their variables checked on load."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import NewsQAError


class TemplateError(NewsQAError, ValueError):
    """A prompt file is missing or does not match its declared variables."""


@dataclass(frozen=True)
class Template:
    name: str
    system: str
    user: str
    variables: tuple[str, ...]

    def format(self, **values: str) -> tuple[str, str]:
        """(system, user) messages with the variables filled in; all of them are required."""
        missing = set(self.variables) - set(values)
        if missing:
            raise TemplateError(f"prompt {self.name!r} needs {sorted(missing)}")
        return self.system.format(**values), self.user.format(**values)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def parse_template(name: str, source: str) -> Template:
    """Build a Template from TOML text, checking placeholders against `variables`."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(f"prompt {name!r} is not valid TOML: {e}") from e
    for key in ("system", "user", "variables"):
        if key not in data:
            raise TemplateError(f"prompt {name!r} lacks {key!r}")
    declared = set(data["variables"])
    used = _placeholders(data["system"]) | _placeholders(data["user"])
    if used != declared:
        raise TemplateError(
            f"prompt {name!r} declares {sorted(declared)} but its text uses {sorted(used)}: make them agree"
        )
    return Template(name, data["system"], data["user"], tuple(data["variables"]))


@cache
def load_template(name: str) -> Template:
    """The template prompts/<name>.toml."""
    try:
        source = resources.files("app.prompts").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise TemplateError(f"no prompt named {name!r} in prompts/") from e
    return parse_template(name, source)
