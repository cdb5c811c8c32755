"""Prompt templates: one file per prompt under `prompts/`, loaded by name.

A template is Markdown with a `system` part and a `user` part separated by a line `---user---`.
Fields are `{name}`; literal braces are doubled. Every field a template names must be given
and no unknown field may be passed: a mistake is an error when the prompt is built, never a
silently blank prompt.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MlrError

if TYPE_CHECKING:
    from .llm.base import Message

SPLIT = "---user---"


class PromptError(MlrError):
    pass


def prompts_dir() -> Path:
    packaged = Path(__file__).parent / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True)
class Template:
    name: str
    system: str
    user: str

    @property
    def fields(self) -> frozenset[str]:
        names: set[str] = set()
        for text in (self.system, self.user):
            for _, field, _, _ in string.Formatter().parse(text):
                if field is not None:
                    if not field.isidentifier():
                        raise PromptError(f"prompt '{self.name}': field '{{{field}}}' is not a plain name")
                    names.add(field)
        return frozenset(names)

    def render(self, **values: object) -> tuple[str, str]:
        missing = self.fields - values.keys()
        if missing:
            raise PromptError(f"prompt '{self.name}' needs the field(s) {', '.join(sorted(missing))}")
        unknown = values.keys() - self.fields
        if unknown:
            raise PromptError(f"prompt '{self.name}' has no field(s) {', '.join(sorted(unknown))}")
        text = {k: str(v) for k, v in values.items()}
        return self.system.format(**text), self.user.format(**text)


@cache
def load(name: str) -> Template:
    path = prompts_dir() / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"no prompt template named '{name}' (looked for {path})")
    raw = path.read_text(encoding="utf-8")
    if SPLIT not in raw:
        raise PromptError(f"prompt '{name}' has no '{SPLIT}' line separating system and user parts")
    system, user = raw.split(SPLIT, 1)
    template = Template(name=name, system=system.strip(), user=user.strip())
    _ = template.fields  # reading them raises on a malformed field: at load time, not at the first call
    return template


def available() -> list[str]:
    return sorted(p.stem for p in prompts_dir().glob("*.md"))


def messages(name: str, **values: object) -> list[Message]:
    """The chat messages of template `name` filled with `values`."""
    # the llm package imports its client and SDK factory: only commands that ask the LLM
    from .llm.base import Message

    system, user = load(name).render(**values)
    return [Message("system", system), Message("user", user)]
