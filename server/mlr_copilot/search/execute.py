"""Running a node: the ONE place the search starts an experiment, one `Engine.run` of the
node's commit (`rev`) in a worktree of its own once a slot of the run queue is free, so several
nodes run at once and none needs the checkout. The checkout is for the operators' edits alone
(`check_out`): the LLM edits the node's files there, one operator at a time."""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..objective import Objective
from ..run_setup import run_command
from ..workspace.gitsafe import run_text
from ..workspace.refs import check_branch_name, commit_of
from .store import SHA

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runners.model import RunRecord
    from ..work import Work


# every improve and debug checks out the search's own branch: git judges its name once
_branch_name = functools.lru_cache(maxsize=64)(check_branch_name)


def check_out(engine: Engine, branch: str, commit: str) -> None:
    """Point the search's own branch at `commit` and check it out (refusing a dirty tree). A
    node's commit is a full sha already: `checkout` itself refuses one that is no commit."""
    engine.git.check_clean_for_agent()
    name = _branch_name(branch)
    sha = commit if SHA.match(commit) else commit_of(engine.workspace, commit)
    out = run_text(engine.workspace, "checkout", "-q", "-B", name, sha, "--")
    if out.returncode != 0:
        raise MlrError(f"could not check out {sha[:12]} on {name}: {out.stderr.strip()}")


def seeded(command: str | list[str], flag: str, seed: int) -> list[str]:
    """The task's command with the seed given as `flag seed` (the bundled tasks' `--seed`)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return [*argv, flag, str(seed)]


@dataclass(frozen=True)
class SessionRuns:
    """What every run of one session shares, read once when it opens (no run reads task.toml
    or asks `git status` again): the objective that judges them, the session's own, passed with
    each run so the engine's settings stay the workspace's for the later commands; and their
    command, the run.command setting else the task's, never a hypothesis's plan (as for the
    objective: `session_objective`)."""

    objective: Objective
    command: str | list[str]

    @classmethod
    def of(cls, engine: Engine, objective: Objective) -> SessionRuns:
        return cls(objective, run_command(engine.settings.run, engine.workspace))


def node_command(engine: Engine, command: str | list[str], seed: int | None = None) -> str | list[str]:
    """The command a run of a node runs: `command`, with `seed` when given."""
    return command if seed is None else seeded(command, engine.settings.search.seed_flag, seed)


async def run_node(engine: Engine, work: Work, runs: SessionRuns, *, commit: str, seed: int | None = None,
                   command: str | list[str] | None = None, baseline: bool = False,
                   search_node: str | None = None) -> RunRecord:
    """Run `commit` once (`command`, default the session's, with `seed` when given) and return
    its record; `search_node`: the node it is a run of, which the queue shows."""
    return await engine.run(work, rev=commit, command=node_command(engine, runs.command if command is None else command, seed),
                            objective=runs.objective, baseline=baseline, search_node=search_node)
