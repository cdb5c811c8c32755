"""Prompt templates: one file per prompt under `prompts/`, loaded by name.

A template is Markdown with a `system` part and a `user` part separated by a line `---user---`.
Fields are `{name}`; literal braces are doubled. Every field a template names must be given
and no unknown field may be passed: a mistake is an error when the prompt is built, never a
silently blank prompt.

Prompts are laid out for a provider's prefix cache: what stays the same from call to call
first. A line `---cache---` in the user part ends such a stable stretch: it is dropped from
the text and becomes a breakpoint of the message (`Message.breaks`), where a provider that
caches on request (Anthropic) marks one. A template whose first line is `---extends NAME---`
has NAME's system part and starts its user part with NAME's, byte for byte, so prompts of
different operators share one cached prefix; the rest of the file continues the user part.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MlrError

if TYPE_CHECKING:
    from .llm.base import Message

SPLIT = "---user---"
CACHE = "---cache---"
EXTENDS = re.compile(r"\A---extends (\w+)---\n")
# how the stable stretches of a user part are joined: the blank line the marker line stood in
JOIN = "\n\n"


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
        system, parts = self.render_parts(**values)
        return system, JOIN.join(parts)

    def render_parts(self, **values: object) -> tuple[str, list[str]]:
        """The system text and the user text cut at its `---cache---` lines (the user text is
        the parts joined by a blank line). Cut before filling, so no field's value can cut it."""
        missing = self.fields - values.keys()
        if missing:
            raise PromptError(f"prompt '{self.name}' needs the field(s) {', '.join(sorted(missing))}")
        unknown = values.keys() - self.fields
        if unknown:
            raise PromptError(f"prompt '{self.name}' has no field(s) {', '.join(sorted(unknown))}")
        text = {k: str(v) for k, v in values.items()}
        parts = [part.strip().format(**text) for part in re.split(rf"^{CACHE}$", self.user, flags=re.MULTILINE)]
        return self.system.format(**text), [p for p in parts if p]


@cache
def load(name: str) -> Template:
    path = prompts_dir() / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"no prompt template named '{name}' (looked for {path})")
    raw = path.read_text(encoding="utf-8")
    extends = EXTENDS.match(raw)
    if extends:
        base = load(extends.group(1))
        template = Template(name=name, system=base.system, user=f"{base.user}{JOIN}{raw[extends.end():].strip()}")
        _ = template.fields
        return template
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

    system, parts = load(name).render_parts(**values)
    breaks, end = [], 0
    for part in parts[:-1]:
        end += len(part) + len(JOIN)
        breaks.append(end)
    return [Message("system", system), Message("user", JOIN.join(parts), breaks=tuple(breaks))]
