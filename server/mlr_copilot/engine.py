"""The engine: one object per workspace that both faces (the LSP server and the CLI) call.
Each public method is one user-visible operation; the faces only translate arguments and
results. Nothing here knows about LSP or the terminal."""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .config import Settings, load_settings
from .envfile import workspace_environ
from .state import StateDir
from .work import Work
from .workspace import gitsafe

log = logging.getLogger(__name__)
DEFAULT_COMMAND = "python train.py"


class Engine:
    def __init__(self, workspace: Path | str, settings: Settings, warnings: list[str] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.workspace = Path(workspace).resolve()
        self.state = StateDir(self.workspace)
        self.settings = settings
        self.warnings = list(warnings or [])
        # where keys and environment settings are read: never os.environ changed for everyone
        self.environ = os.environ if environ is None else environ
        self._ledger = None
        self._llm = None
        self._files = None

    @classmethod
    def load(cls, workspace: Path | str, *layers: dict[str, Any] | None) -> Engine:
        """An engine whose settings are the environment and what the workspace's `.env` may
        set (`envfile`), then each layer over them (editor options, then `workspace/configuration`)."""
        root = Path(workspace).resolve()
        environ, warnings = workspace_environ(root)
        settings, more = load_settings(*layers, environ=environ)
        return cls(root, settings, warnings + more, environ)

    def reload_settings(self, *layers: dict[str, Any] | None) -> list[str]:
        """New editor settings over the same environment; the warnings about them."""
        settings, warnings = load_settings(*layers, environ=self.environ)
        self.configure(settings)
        return warnings

    def configure(self, settings: Settings) -> None:
        if settings.llm != self.settings.llm:
            self._llm = None
            if self._ledger is not None:
                self._ledger.set_budget(settings.llm.budget_usd, settings.llm.budget_tokens)
        self.settings = settings

    @property
    def files(self):
        """The workspace's map for the agent, kept up to date path by path (`WorkspaceMap`)."""
        if self._files is None:
            from .experiment.repomap import WorkspaceMap

            self._files = WorkspaceMap(self.workspace)
        return self._files

    @property
    def ledger(self):
        if self._ledger is None:
            from .llm.accounting import Ledger

            self._ledger = Ledger(budget_usd=self.settings.llm.budget_usd, budget_tokens=self.settings.llm.budget_tokens)
        return self._ledger

    def keep_ledger(self, path: Path, *, resume: bool) -> None:
        """Save the spend to `path` at every call. `resume` first loads what it holds, so a
        resumed session reports, and caps, the spend made before it was interrupted."""
        from .llm.accounting import Ledger

        llm = self.settings.llm
        if resume:
            self._ledger = Ledger.load(path, llm.budget_usd, llm.budget_tokens)
        else:
            self._ledger = Ledger(llm.budget_usd, llm.budget_tokens, path=path)
            # on disk too: a later resume must not inherit an older session's spend
            self._ledger.save(path)
        if self._llm is not None:
            self._llm.ledger = self._ledger

    @property
    def llm(self):
        """The LLM client, made on first use so commands that need none never pay for it."""
        if self._llm is None:
            from .llm.factory import make_llm

            self._llm = make_llm(self.settings.llm, self.ledger, workspace=self.workspace, environ=self.environ)
        return self._llm

    def usage(self) -> dict[str, Any]:
        if self._ledger is None:
            return {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "tasks": {}}
        return self._ledger.snapshot()

    def status(self, tasks: list[dict[str, str]] | None = None) -> dict[str, Any]:
        llm = self.settings.llm
        return {
            "version": __version__,
            "workspace": str(self.workspace),
            "provider": llm.provider,
            "model": llm.resolved_model(),
            "tasks": tasks or [],
            "usage": self.usage(),
        }

    # ideas

    @property
    def ideas(self):
        from .ideas.agent import IdeaAgent

        return IdeaAgent(self)

    async def propose_hypotheses(self, source, work: Work):
        """`source`: a PDF's path or URI, or a `Paper` already made."""
        if isinstance(source, (str, Path)):
            source = resolve_path(self.workspace, str(source))
        return await self.ideas.propose(source, work)

    async def read_paper(self, source: str | Path, work: Work):
        """The `Paper` at `source` (a PDF's path or URI), read in a thread. Online (the
        ideas.online setting), a paper that prints its arXiv id or DOI is corrected by its own
        record from Semantic Scholar, OpenAlex or arXiv; offline nothing is asked."""
        from .paper import parse_pdf

        path = resolve_path(self.workspace, str(source))
        paper = await _in_thread(parse_pdf, path, should_cancel=work.cancel.is_set)
        if self.settings.ideas.online and paper.identifiers:
            paper = await _in_thread(self._corrected, paper, work)
        return paper

    def _corrected(self, paper, work: Work):
        from .paper.enrich import enrich
        from .retrieval.records import fetch_record

        record, notes = fetch_record(paper.identifiers, cache_dir=self.state.cache("retrieval"),
                                     should_cancel=work.cancel.is_set, environ=self.environ)
        if record is not None:
            paper, changes = enrich(paper, record)
            notes += changes
        for note in notes:
            log.info("%s: %s", paper.path, note)
            work.say(note)
        return paper

    async def paper_markdown(self, source: str, work: Work) -> str:
        """The paper at `source` (a PDF's path or URI) as a Markdown outline."""
        from .paper.markdown import to_markdown

        work.say(f"Reading {Path(str(source)).name}")
        return to_markdown(await self.read_paper(source, work))

    def hypotheses(self):
        # Every run asks: before any proposal there is nothing to load, and the store alone
        # (not the ideas agent) answers, so a run does not pay for the ideas phase's imports.
        proposals = self.state.root / "ideas"
        if not proposals.is_dir() or not any(proposals.iterdir()):
            return []
        from .ideas.store import IdeaStore

        return IdeaStore(self.state).hypotheses()

    def decide(self, hypothesis_id: str, status: str, note: str = ""):
        """Record the decision and rewrite the hypotheses document; the store answers, not
        the ideas agent, so accept and reject do not pay for the LLM layer's imports."""
        from .ideas import document
        from .ideas.store import IdeaStore

        store = IdeaStore(self.state)
        hypothesis = store.decide(hypothesis_id, status, note)
        run, _ = store.find(hypothesis.id)
        document.write(self.workspace, run)
        return hypothesis

    async def refine(self, hypothesis_id: str, feedback: str | None, work: Work):
        return await self.ideas.refine(hypothesis_id, feedback, work)

    # implementation

    @property
    def git(self):
        from .workspace.git import GitWorkspace

        return GitWorkspace(self.workspace)

    async def ensure_repository(self, confirm_init) -> None:
        """Make sure the workspace is a git repository with a commit; offer to create one."""
        from .workspace.errors import NoCommitsError, NotARepositoryError

        git = self.git
        try:
            await _in_thread(git.ensure_repo)
        except (NotARepositoryError, NoCommitsError) as exc:
            if not await confirm_init(str(exc)):
                raise
            await _in_thread(git.ensure_repo, True)

    async def implement(self, hypothesis_id: str, reviewer, work: Work, confirm_init, base: str | None = None):
        from .errors import MlrError
        from .experiment.agent import ImplementAgent

        _run, hypothesis = self.ideas.store.find(hypothesis_id)
        if hypothesis.status != "accepted":
            raise MlrError(f"{hypothesis.id} is {hypothesis.status}: accept it before implementing it")
        await self.ensure_repository(confirm_init)
        return await ImplementAgent(self, hypothesis, self.git).run(reviewer, work, base=base)

    def undo(self) -> str:
        return self.git.undo_last_agent_commit()

    # execution

    def primary_metric(self, hypothesis=None) -> tuple[str | None, str | None]:
        """The metric that decides: the setting, else the plan of the hypothesis whose branch is
        checked out, else the workspace's task description."""
        run = self.settings.run
        if run.metric:
            return run.metric, run.direction or "maximize"
        hypothesis = hypothesis or self.current_hypothesis()
        if hypothesis is not None:
            return hypothesis.plan.metric, hypothesis.plan.direction
        from .tasks import TaskError, load_task

        try:
            task = load_task(self.workspace)
            return task.metric.name, task.metric.direction
        except TaskError:
            return None, None

    def current_hypothesis(self):
        from .workspace.commits import head_info

        head = head_info(self.workspace)
        if head is None or not head.branch:
            return None
        for hypothesis in self.hypotheses():
            if hypothesis.branch == head.branch:
                return hypothesis
        return None

    def run_request(self, command: str | list[str] | None = None, timeout: float | None = None, hypothesis=None):
        from .runners import RunRequest

        run = self.settings.run
        hypothesis = hypothesis or self.current_hypothesis()
        if command is None:
            command = run.command or (hypothesis and hypothesis.plan.command) or self._task_command() or DEFAULT_COMMAND
        return RunRequest(
            workspace=str(self.workspace), command=command, timeout=timeout or run.timeout, memory_mb=run.memory_mb,
            cpus=run.cpus, max_processes=run.max_processes, max_output_mb=run.max_output_mb, network=run.network,
            gpus=run.gpus, image=run.image, results_file=run.results_file,
        )

    def _task_command(self) -> str | None:
        from .tasks import TaskError, load_task

        try:
            return load_task(self.workspace).command
        except TaskError:
            return None

    async def run(self, work: Work, *, command=None, runner: str | None = None, timeout: float | None = None,
                  on_line=None, baseline: bool = False):
        from .runners import pick_runner
        from .runners.execute import execute

        hypothesis = self.current_hypothesis()
        request = self.run_request(command, timeout, hypothesis)
        chosen = await _in_thread(pick_runner, runner or self.settings.run.runner, self.settings.run.image)
        metric, direction = self.primary_metric(hypothesis)
        work.say(f"Running `{request.command_text()}` ({chosen.reason})", None)
        return await _in_thread(
            execute, request, chosen, primary_metric=metric, direction=direction,
            hypothesis=hypothesis.id if hypothesis else None, baseline=baseline,
            on_line=on_line, cancel=work.cancel, mlflow_uri=self.settings.tracking.mlflow_uri,
        )

    def run_record(self, run_id: str):
        from .errors import MlrError
        from .runners.execute import record_path
        from .runners.model import RUN_ID_PATTERN, RunRecord

        if not isinstance(run_id, str) or not re.fullmatch(RUN_ID_PATTERN, run_id):
            raise MlrError(f"{run_id!r} is not a run id (such as 20240101-120000-a1b2c3)")
        path = record_path(self.workspace, run_id)
        if not path.is_file():
            raise MlrError(f"no run '{run_id}' in {path.parent}")
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))

    async def fix(self, run_id: str, reviewer, work: Work, on_line=None):
        """One reviewed fix for a failed run; an accepted fix is committed and run again."""
        from .errors import MlrError
        from .experiment.debug import propose_fix

        record = self.run_record(run_id)
        hypothesis = self.current_hypothesis()
        await _in_thread(self.git.check_clean_for_agent)
        outcome = await propose_fix(self, record, reviewer, work, [], hypothesis.id if hypothesis else None)
        if outcome is None:
            raise MlrError(f"no fix was proposed for run {run_id}")
        if not outcome.commit:
            return {"accepted": False, "reason": outcome.review.reason, "run": None}
        rerun = await self.run(work, on_line=on_line)
        return {"accepted": True, "commit": outcome.commit, "run": rerun.model_dump(mode="json")}

    async def debug(self, reviewer, work: Work, on_line=None, max_attempts: int | None = None):
        from .experiment.debug import debug_loop

        await _in_thread(self.git.check_clean_for_agent)
        hypothesis = self.current_hypothesis()
        attempts = self.settings.run.debug_attempts if max_attempts is None else max_attempts
        return await debug_loop(self, reviewer, work, run=lambda: self.run(work, on_line=on_line),
                                max_attempts=attempts, hypothesis=hypothesis.id if hypothesis else None)

    def history(self, branch: str | None = None, *, all_branches: bool = False):
        """The runs along `branch` (default: the current one); with `all_branches` and no
        `branch`, along the base branch and every hypothesis branch."""
        from .history.store import history

        metric, direction = self.primary_metric()
        return history(self.workspace, branch, all_branches=all_branches, metric=metric, direction=direction)

    def compare(self, run_a: str, run_b: str):
        """Runs `run_a` and `run_b` side by side: metrics, settings and the code diff."""
        from .history.compare import compare_runs

        return compare_runs(self.workspace, self.run_record(run_a), self.run_record(run_b))

    def runs(self):
        from .history.store import load_runs

        return load_runs(self.workspace)

    def doctor(self) -> list[tuple[str, str, bool]]:
        """(check, finding, ok) rows describing this machine and workspace."""
        from importlib import metadata

        from .llm.keys import key_status

        rows: list[tuple[str, str, bool]] = [
            ("python", f"{platform.python_version()} ({sys.executable})", True),
            ("mlr-copilot", __version__, True),
        ]
        for package in ("pygls", "lsprotocol", "openai", "anthropic", "docker", "pypdfium2", "gitpython", "huggingface_hub"):
            try:
                rows.append((package, metadata.version(package), True))
            except metadata.PackageNotFoundError:
                rows.append((package, "not installed", False))
        rows += _task_packages()
        if shutil.which("git"):
            out = gitsafe.run(None, "--version", timeout=10)
            rows.append(("git", out.stdout.decode(errors="replace").strip(), out.returncode == 0))
        else:
            rows.append(("git", "not found on PATH", False))
        rows += _docker_rows(self.settings.run.image)
        rows.append(("local memory", *_local_memory_status()))
        llm = self.settings.llm
        rows.append(("llm provider", f"{llm.provider} (model {llm.resolved_model()})", True))
        if llm.provider == "scripted":
            script = llm.script and (self.workspace / llm.script)
            rows.append(("llm script", str(script) if script else "not set (set MLR_SCRIPT or llm.script)", bool(script and script.is_file())))
        else:
            variable, present = key_status(llm.provider, self.environ)
            if variable:
                rows.append(("api key", f"{variable} {'is set' if present else 'is not set'}", present or llm.provider == "openai-compatible"))
        rows.append(("workspace", *_workspace_status(self.workspace)))
        for warning in self.warnings:
            rows.append(("warning", warning, False))
        return rows


def _task_packages() -> list[tuple[str, str, bool]]:
    """Whether the packages the bundled offline tasks import are importable: the local runner
    runs them with this same Python, so a missing one fails the demo's baseline."""
    from importlib import metadata, util

    from .tasks import TaskError, bundled_tasks_root, list_tasks

    try:
        tasks = [task for task in list_tasks(bundled_tasks_root()) if task.kind == "offline"]
    except TaskError as exc:
        return [("offline tasks", str(exc), False)]
    needed: dict[str, list[str]] = {}
    for task in tasks:
        for package in task.requirements:
            needed.setdefault(_canonical(package), []).append(task.name)
    modules: dict[str, str] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            if not module.startswith("_"):
                modules.setdefault(_canonical(distribution), module)
    rows = []
    for package, users in sorted(needed.items()):
        module = modules.get(package)
        ok = module is not None and util.find_spec(module) is not None
        finding = f"{metadata.version(package)}, importable as {module}" if ok else f"not importable (pip install {package})"
        rows.append((package, f"{finding}; needed by the offline tasks {', '.join(users)}", ok))
    return rows


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _docker_rows(image: str | None) -> list[tuple[str, str, bool]]:
    """Whether an engine answers, and whether the image `run.runner = auto` wants is there
    (it is never pulled: without it, `auto` runs locally)."""
    from .runners import DEFAULT_IMAGE
    from .runners.docker import DockerUnavailableError, docker_client, image_exists

    try:
        client = docker_client(timeout=2)
    except DockerUnavailableError as exc:
        return [("docker engine", f"{exc}; runs use the local runner", False)]
    from docker.errors import DockerException

    wanted = image or DEFAULT_IMAGE
    try:
        version = client.version().get("Version", "?")
        present = image_exists(client, wanted)
    except DockerException as exc:
        return [("docker engine", f"answers, but failed: {exc}", False)]
    finally:
        client.close()
    finding = (f"'{wanted}' is present: run.runner auto runs in Docker" if present else
               f"'{wanted}' is not on this machine (build it with scripts/build-base-image.sh): run.runner auto runs locally")
    return [("docker engine", f"answers (engine {version})", True), ("docker image", finding, present)]


def _local_memory_status() -> tuple[str, bool]:
    from .runners.proctree import cgroup_hierarchy

    base = cgroup_hierarchy("memory")
    if base is None:
        return "run.memoryMb holds per process only (no memory cgroup this process may create)", False
    return f"run.memoryMb holds for a run's processes together (a cgroup under {base})", True


def _workspace_status(root: Path) -> tuple[str, bool]:
    """The branch and the changes to tracked files (what makes the agent refuse to start);
    untracked files, such as the research/ views, are no change the agent minds."""
    if not root.is_dir():
        return f"{root} does not exist", False
    try:
        out = gitsafe.run(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no", gitsafe.NO_SUBMODULES,
                          timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{root}: git did not answer ({exc})", False
    if out.returncode != 0:
        return f"{root} is not a git repository (implementation will offer to initialise one)", False
    lines = out.stdout.decode(errors="replace").splitlines()
    fields = dict(line[2:].split(" ", 1) for line in lines if line.startswith("# ") and " " in line[2:])
    branch = fields.get("branch.head", "?")
    where = "a detached HEAD" if branch == "(detached)" else "no commit yet" if fields.get("branch.oid") == "(initial)" else f"branch {branch}"
    changed = sum(1 for line in lines if not line.startswith("#"))
    state = "no uncommitted change to tracked files" if changed == 0 else f"{changed} tracked file(s) with uncommitted changes"
    mlr = "has .mlr/ state" if (root / ".mlr").is_dir() else "no .mlr/ state yet"
    return f"{root}: {where}, {state}, {mlr}", True


async def _in_thread(fn, /, *args, **kwargs):
    """`asyncio.to_thread`, with asyncio imported at the first call: the commands that only
    read (history, compare, accept, status) never start an event loop, and importing asyncio
    (with ssl) is a third of their start-up."""
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


def resolve_path(workspace: Path, value: str) -> Path:
    """A path argument as an editor or a shell gives it: a file URI, absolute, or relative to the workspace."""
    if value.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(value).path))
    path = Path(value).expanduser()
    return path if path.is_absolute() else workspace / path
