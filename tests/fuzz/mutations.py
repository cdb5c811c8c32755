"""Hostile LLM replies derived from the recorded ones (the demo's script), with a fixed seed so
every run tries the same cases.

JSON replies (the ideas calls) are truncated, given wrong types and missing fields, filled
with markup, control characters and lone surrogate escapes, nested too deeply, blown up to
megabytes, emptied or replaced by prose. Edit replies (implementation steps, debugging fixes)
are truncated and garbled the same way, and aimed at files the agent must never touch.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

from mlr_copilot.autonomous.demo import demo_files

SEED = 20261202
MARKUP = "[/bold] [ref:4] [cls] x[i] [bold red]loud[/] :thumbs_up: [link=file:///etc/passwd]x[/link]"
CONTROL = "\x1b[2J\x1b]0;pwned\x07\x9b31m\rback\x08\x00\u202e"
MEGABYTES = 3 * 1024 * 1024
PROSE = "I am sorry, but I cannot help with that. As an AI language model I prefer not to answer."

Case = tuple[str, str]  # (name, reply text)


def recorded() -> dict[str, list[Any]]:
    """The demo's recorded replies by call, without the checks on the prompt."""
    calls: dict[str, list[Any]] = {}
    for line in demo_files()[1].read_text().splitlines():
        record = json.loads(line)
        calls.setdefault(record["call"], []).append(record["response"])
    return calls


def _leaves(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, path + (index,))
    else:
        yield path


def _keys(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _keys(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _keys(value, path + (index,))


def _set(data: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


def _strings(node: Any, change) -> Any:
    if isinstance(node, str):
        return change(node)
    if isinstance(node, list):
        return [_strings(item, change) for item in node]
    if isinstance(node, dict):
        return {key: _strings(value, change) for key, value in node.items()}
    return node


def _wrong(value: Any, rng: random.Random) -> Any:
    if isinstance(value, str):
        return rng.choice([42, None, ["a", "list"], {"an": "object"}, True])
    if isinstance(value, (int, float)):
        return rng.choice(["high", None, [7], -1e308, float("nan")])
    return rng.choice(["text", 0, None])


def json_cases(data: Any, rng: random.Random) -> list[Case]:
    """Hostile variants of one JSON reply."""
    text = json.dumps(data)
    cases: list[Case] = [(f"truncated-{p}%", text[: len(text) * p // 100]) for p in (1, 30, 60, 95)]
    leaves = list(_leaves(data))
    for path in rng.sample(leaves, min(5, len(leaves))):
        parent = data
        for part in path:
            parent = parent[part]
        wrong = _set(data, path, _wrong(parent, rng))
        cases.append((f"wrong-type:{'.'.join(map(str, path))}", json.dumps(wrong)))
    keys = list(_keys(data))
    for path in rng.sample(keys, min(4, len(keys))):
        cases.append((f"missing:{'.'.join(map(str, path))}", json.dumps(_set(data, path, None, delete=True))))
    cases += [
        ("markup", json.dumps(_strings(data, lambda s: f"{s} {MARKUP}"))),
        ("control-characters", json.dumps(_strings(data, lambda s: f"{CONTROL}{s}{CONTROL}"))),
        ("lone-surrogate", json.dumps(_strings(data, lambda s: s + "\ud800"))),
        ("lone-surrogate-in-key", text.replace("{", '{"\\udfff": 1, ', 1)),
        ("deep-object", '{"a": ' * 200_000),
        ("deep-array", text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("huge-string", json.dumps(_strings(data, lambda s: s + "x" * (MEGABYTES // 8)))),
        ("huge-prose", PROSE * (MEGABYTES // len(PROSE))),
        ("many-braces", "{" * MEGABYTES),
        ("empty", ""),
        ("whitespace", " \n\t\n"),
        ("prose", PROSE),
        ("array", json.dumps([data])),
        ("null", "null"),
        ("number", "42"),
        ("fenced-with-prose", f"Here you go:\n```json\n{text}\n```\nHope this helps {MARKUP}"),
    ]
    return cases


def edit_reply(path: str, search: str, replace: str, summary: str = "Change it", why: str = "The plan says so.") -> str:
    return (f"SUMMARY: {summary}\nWHY: {why}\n\n{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n"
            ">>>>>>> REPLACE\n")


def file_reply(path: str, content: str, summary: str = "Write it") -> str:
    return f"SUMMARY: {summary}\n\n{path}\n<<<<<<< FILE\n{content}>>>>>>> FILE\n"


def delete_reply(path: str) -> str:
    return f"SUMMARY: Remove it\n\n{path}\n<<<<<<< DELETE\n>>>>>>> DELETE\n"


# Paths no edit may reach, and what the workspace fixture plants there.
FORBIDDEN = [".env", ".env.local", "secrets.json", "config/credentials.yaml", "id_rsa", "server.pem", ".netrc",
             ".git/config", ".git/hooks/pre-commit", ".mlr/implement/h1/state.json", "/etc/passwd",
             "/tmp/mlr-fuzz-absolute.py", "../outside.py", "..\\outside.py", "~/outside.py", "link-out/evil.py",
             "pipe.py", "data", "C:/evil.py", "sub/../../outside.py"]
# The user's files git holds no copy of: an edit may be refused, never lose them.
USER_FILES = ["notes.txt", "data/big.csv"]


def edit_cases(valid: str, target: str, search: str, rng: random.Random) -> list[Case]:
    """Hostile variants of one edit reply (`valid` edits `target`, replacing `search`)."""
    cases: list[Case] = [(f"truncated-{p}%", valid[: len(valid) * p // 100]) for p in (5, 35, 55, 75, 97)]
    cases += [
        ("markup-and-control-in-summary-and-why",
         valid.replace("SUMMARY: ", f"SUMMARY: {MARKUP} {CONTROL} ").replace("WHY: ", f"WHY: {MARKUP} {CONTROL}\n")),
        ("markup-in-code", valid.replace("=======\n", f"=======\n# {MARKUP}\n")),
        ("control-characters-in-code", valid.replace("=======\n", f"=======\n# {CONTROL}\n")),
        ("lone-surrogate-in-code", valid.replace("=======\n", "=======\n# caf\ud800e\n")),
        ("empty", ""),
        ("whitespace", "\n\n  \t\n"),
        ("prose", PROSE),
        ("garbage", "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(2000))),
        ("markers-out-of-order", ">>>>>>> REPLACE\n=======\n<<<<<<< SEARCH\n"),
        ("unclosed-block", f"{target}\n<<<<<<< SEARCH\n{search}\n=======\nx = 1\n"),
        ("no-path", f"<<<<<<< SEARCH\n{search}\n=======\nx = 1\n>>>>>>> REPLACE\n"),
        ("delete-with-body", f"{target}\n<<<<<<< DELETE\nsomething\n>>>>>>> DELETE\n"),
        ("huge-prose", PROSE * (MEGABYTES // len(PROSE))),
        ("huge-file", file_reply(target, "x = 1\n" * (MEGABYTES // 6))),
        ("no-match", edit_reply(target, search + "  # not in the file", "x = 1")),
        ("multi-match", edit_reply(target, "pass", "return None")),
        ("long-no-match", edit_reply(target, "\n".join(f"line_{i} = {i}" for i in range(20_000)), "x = 1")),
        ("empty-search-on-a-full-file", edit_reply(target, "", "x = 1")),
        ("missing-file", edit_reply("nowhere/missing.py", "x = 1", "x = 2")),
        ("many-reads", "\n".join(f"READ: file_{i}.py" for i in range(500))),
        ("read-forbidden", "READ: .env\nREAD: /etc/passwd\nREAD: ../outside.py\nREAD: pipe.py\nREAD: .git/config"),
    ]
    for path in FORBIDDEN:
        cases.append((f"file-block:{path}", file_reply(path, "import os\nos.system('echo pwned')\n")))
    for path in ("pipe.py", ".env", ".git/config", "../outside.py"):
        cases.append((f"delete:{path}", delete_reply(path)))
    for path in USER_FILES:
        cases.append((f"overwrite-user-file:{path}", file_reply(path, "agent content\n")))
        cases.append((f"delete-user-file:{path}", delete_reply(path)))
    return cases
