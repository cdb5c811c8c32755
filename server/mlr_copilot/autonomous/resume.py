"""What a resumed autonomous session takes from what is on disk, so a kill at any point loses
nothing and `auto --resume` needs no flag: the settings and the paper it was started with
(saved in `.mlr/auto/state.json`), and its baseline, commits and runs as the run records under
`.mlr/runs/` and the branch's commits hold them, not as the interrupted process last saved them.

The saved settings are workspace content: only those that say how to run and score the
experiment and which model to ask are taken back, and the caller shows them before anything
runs; an endpoint (`llm.baseUrl`), which would receive the user's key, never is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MlrError
from ..history.store import load_runs
from ..runners.model import RunRecord
from ..taskfile import TaskError, load_task
from ..workspace.commits import HYPOTHESIS_TRAILER
from .bundled import paper_from_task

if TYPE_CHECKING:
    from ..paper import Paper
    from ..workspace.commits import CommitInfo
    from ..workspace.git import GitWorkspace

# section -> the settings a session restores (the CLI's names, see cli._layer)
RESUMABLE = {
    "llm": ("provider", "model", "script", "budget_usd"),
    "run": ("runner", "timeout", "command", "metric", "direction"),
    "ideas": ("online",),
}


def resumable_settings(layer: dict[str, Any] | None) -> dict[str, Any]:
    """The part of a settings layer a resumed session takes back (see RESUMABLE)."""
    kept: dict[str, Any] = {}
    for section, names in RESUMABLE.items():
        values = (layer or {}).get(section)
        if isinstance(values, dict):
            chosen = {name: values[name] for name in names if values.get(name) is not None}
            if chosen:
                kept[section] = chosen
    return kept


def merged_settings(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The saved settings with the ones given now over them, section by section."""
    merged = {section: dict(values) for section, values in resumable_settings(saved).items()}
    for section, values in given.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def describe_settings(layer: dict[str, Any]) -> str:
    return ", ".join(f"{section}.{name}={value!r}" for section, values in resumable_settings(layer).items()
                     for name, value in values.items()) or "the defaults"


def session_source(paper: str | None, from_task: bool, workspace: Path) -> Path | Paper:
    """Where the interrupted session took its hypotheses from: the paper's path, or the
    workspace's task description made into a paper."""
    if from_task:
        try:
            return paper_from_task(load_task(workspace))
        except TaskError as exc:
            raise MlrError(f"the interrupted session took its hypotheses from the task description: {exc}") from None
    if not paper:
        raise MlrError("the interrupted session names no paper: give --paper PAPER.pdf")
    if not Path(paper).is_file():
        raise MlrError(f"the paper of the interrupted session, {paper}, is gone: give --paper PAPER.pdf")
    return Path(paper)


# what the code alone decided: a run stopped by its limits (a timeout, memory), which a resumed
# session may have raised, or by an interruption or an error of the machinery is made again
FINISHED = ("passed", "failed")


def recorded_run(workspace: Path, commit: str, since: str | None, *, baseline: bool = False) -> RunRecord | None:
    """The session's newest finished run of `commit` (started at or after `since`), if one was
    recorded: a session killed after a run ended but before it saved what came of it does not
    run it again. The baseline is taken only when it passed (a failed one is tried again), and
    only as a baseline: another session's run, or the user's, is never taken for the session's."""
    if since is None:
        return None
    statuses = ("passed",) if baseline else FINISHED
    done = [r for r in load_runs(workspace)
            if r.baseline == baseline and r.of_commit == commit and r.status in statuses and r.started_at >= since]
    return done[-1] if done else None


def recorded_baseline(workspace: Path, base_commit: str, since: str | None) -> RunRecord | None:
    """The session's passed baseline run at `base_commit`, if one was recorded (`recorded_run`)."""
    return recorded_run(workspace, base_commit, since, baseline=True)


def recorded_work(git: GitWorkspace, workspace: Path, branch: str, base_commit: str,
                  hypothesis: str) -> tuple[list[str], list[RunRecord]]:
    """The hypothesis's commits on `branch` since `base_commit` (oldest first) and the finished
    runs of every commit there, as git and the run records hold them."""
    since: list[CommitInfo] = []
    for commit in git.log(branch, limit=1000):
        if commit.sha == base_commit:
            break
        since.append(commit)
    since.reverse()
    shas = {commit.sha for commit in since}
    commits = [c.sha for c in since if c.trailers.get(HYPOTHESIS_TRAILER) == hypothesis]
    runs = [r for r in load_runs(workspace) if r.of_commit in shas and r.status != "running"]
    return commits, runs
