"""Running a node: the ONE place the search starts an experiment. For now it checks the node's
commit out on the search's own branch and calls `Engine.run`; once runs take a commit
(`Engine.run(rev=...)`, isolated worktrees on slots) this becomes that one call."""

from __future__ import annotations

import asyncio
import shlex
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..workspace.gitsafe import run_text
from ..workspace.refs import check_branch_name, commit_of

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runners.model import RunRecord
    from ..work import Work


def check_out(engine: Engine, branch: str, commit: str) -> None:
    """Point the search's own branch at `commit` and check it out (refusing a dirty tree)."""
    engine.git.check_clean_for_agent()
    name = check_branch_name(branch)
    sha = commit_of(engine.workspace, commit)
    out = run_text(engine.workspace, "checkout", "-q", "-B", name, sha, "--")
    if out.returncode != 0:
        raise MlrError(f"could not check out {sha[:12]} on {name}: {out.stderr.strip()}")


def seeded(command: str | list[str], flag: str, seed: int) -> list[str]:
    """The task's command with the seed given as `flag seed` (the bundled tasks' `--seed`)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return [*argv, flag, str(seed)]


async def run_node(engine: Engine, work: Work, *, branch: str, commit: str, seed: int | None = None,
                   command: str | list[str] | None = None, baseline: bool = False) -> RunRecord:
    """Run `commit` once (with `seed` when given) and return its record."""
    await asyncio.to_thread(check_out, engine, branch, commit)
    if seed is not None:
        base = command if command is not None else engine.run_request().command
        command = seeded(base, engine.settings.search.seed_flag, seed)
    return await engine.run(work, command=command, baseline=baseline)
