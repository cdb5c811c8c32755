"""Several runs asked for at once: the branch head of every accepted hypothesis (and, when
asked, the base branch's head as the baseline), each one `Engine.run` of its own commit.

Policy:

* What runs is fixed when the batch is asked for: each branch's head commit then. A commit made
  on a branch while its run waits for a slot is not what that run runs; its record names the
  commit it ran.
* Every run is started at once; the slot queue (`runners/queue.py`), not this module, decides
  how many execute together (the `run.parallel` setting).
* A hypothesis with nothing to run (not implemented yet: no branch, or a branch without a commit
  of its own beyond the base branch) or a run that could not start (its commit gone by the time
  its slot came) is one line of the answer; the others still run. Cancelling the batch cancels
  every run of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..errors import MlrError
from ..untrusted import one_line
from ..workspace.commits import default_branch
from ..workspace.gitsafe import run_text
from ..workspace.refs import BadRefError, commit_of
from .model import RunRecord

if TYPE_CHECKING:
    from ..ideas.model import Hypothesis
    from .supervise import LineCallback

log = logging.getLogger(__name__)

BASELINE = "baseline"


class BatchItem(BaseModel):
    """One run of a batch: what it is of (a hypothesis id, or `baseline`), the branch and the
    commit it runs, and its record once ended, or the one line saying why there is none."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    target: str
    branch: str | None = None
    commit: str | None = None
    run: RunRecord | None = None
    # one line naming its target, such as "h3 has no branch mlr/h3-...: implement it first"
    error: str | None = None


@dataclass(frozen=True)
class Target:
    """A run to start: `commit`, the head of `branch` when the batch was asked for."""

    name: str
    branch: str
    commit: str
    hypothesis: Hypothesis | None = None
    baseline: bool = False


StartRun = Callable[[Target, "LineCallback | None"], Awaitable[RunRecord]]


def plan_batch(workspace: Path, hypotheses: Iterable[Hypothesis], ids: list[str] | None = None,
               baseline: bool = False) -> list[Target | BatchItem]:
    """In order (the baseline first, then the hypotheses as listed), a `Target` for each run to
    start, or a `BatchItem` with its error for each that has nothing to run. `ids`: only these
    hypotheses (each must be accepted); None: every accepted one."""
    known = list(hypotheses)
    base = default_branch(workspace)
    planned: list[Target | BatchItem] = []
    if baseline:
        if base is None:
            planned.append(BatchItem(target=BASELINE, error="no base branch (main or master) to run as the baseline"))
        else:
            planned.append(_head(workspace, BASELINE, base, None, baseline=True))
    if ids is None:
        chosen = [h for h in known if h.status == "accepted"]
    else:
        by_id = {h.id: h for h in known}
        chosen = []
        for wanted in dict.fromkeys(ids):
            found = by_id.get(wanted)
            if found is None:
                planned.append(BatchItem(target=wanted, error=f"no hypothesis {wanted!r} (known: {', '.join(by_id) or 'none'})"))
            elif found.status != "accepted":
                planned.append(BatchItem(target=wanted, error=f"{wanted} is {found.status}: only accepted hypotheses run"))
            else:
                chosen.append(found)
    for hypothesis in chosen:
        planned.append(_hypothesis_head(workspace, hypothesis, base))
    return planned


def _hypothesis_head(workspace: Path, hypothesis: Hypothesis, base: str | None) -> Target | BatchItem:
    branch = hypothesis.branch
    try:
        commit = commit_of(workspace, f"refs/heads/{branch}")
    except BadRefError:
        return BatchItem(target=hypothesis.id, branch=branch,
                         error=f"{hypothesis.id} has no branch {branch}: implement it first")
    if base is not None and _own_commits(workspace, base, commit) == 0:
        return BatchItem(target=hypothesis.id, branch=branch, commit=commit,
                         error=f"{hypothesis.id}: branch {branch} has no commit beyond {base}: implement it first")
    return Target(hypothesis.id, branch, commit, hypothesis)


def _head(workspace: Path, name: str, branch: str, hypothesis: Hypothesis | None, *, baseline: bool) -> Target | BatchItem:
    try:
        return Target(name, branch, commit_of(workspace, f"refs/heads/{branch}"), hypothesis, baseline)
    except BadRefError as exc:
        return BatchItem(target=name, branch=branch, error=f"{name}: {exc}")


def _own_commits(workspace: Path, base: str, commit: str) -> int | None:
    """How many commits `commit` has that the base branch has not (None: git could not say)."""
    done = run_text(workspace, "rev-list", "--count", f"refs/heads/{base}..{commit}", "--")
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip().isdigit() else None


async def run_batch(planned: list[Target | BatchItem], start: StartRun, on_line: LineCallback | None = None,
                    on_end: Callable[[BatchItem], None] | None = None) -> list[BatchItem]:
    """Start every `Target` of `planned` at once with `start`; each one's item, in the order
    planned. Each run's log lines reach `on_line` prefixed with its target's name; `on_end` hears
    of each item as its run ends (or fails to start)."""

    async def one(target: Target) -> BatchItem:
        lines = None if on_line is None else _prefixed(on_line, target.name)
        item = BatchItem(target=target.name, branch=target.branch, commit=target.commit)
        try:
            item.run = await start(target, lines)
        except MlrError as exc:
            item.error = f"{target.name}: {one_line(exc)}"
        except Exception as exc:  # one run's bug must not stop the others: named, and logged in full
            log.exception("the run of %s failed", target.name)
            item.error = f"{target.name}: {type(exc).__name__}: {one_line(exc)}"
        if on_end is not None:
            on_end(item)
        return item

    for item in planned:
        if isinstance(item, BatchItem) and on_end is not None:
            on_end(item)
    started = {i: asyncio.ensure_future(one(t)) for i, t in enumerate(planned) if isinstance(t, Target)}
    try:
        await asyncio.gather(*started.values())
    except BaseException:
        # cancelled (the editor, Ctrl-C): every run of the batch stops, not only the first
        for task in started.values():
            task.cancel()
        await asyncio.gather(*started.values(), return_exceptions=True)
        raise
    return [started[i].result() if isinstance(item, Target) else item for i, item in enumerate(planned)]


def _prefixed(on_line: LineCallback, name: str) -> LineCallback:
    def tagged(line: str) -> None:
        on_line(f"[{name}] {line}")

    return tagged
