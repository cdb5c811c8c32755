"""Hostile replies to the calls that propose edits (`implement.step`, `debug.fix`), through
the engine in-process on a real git repository holding the user's own files: untracked notes,
an ignored data file, secrets files, a FIFO, a symlink leading out, a folder outside.

Each case asserts: no exception but a clear error (`MlrError`, on one line as the CLI prints
it); a clean retry when the recorded reply follows the hostile one; no tracked change left
uncommitted; every new commit an agent commit on the hypothesis's branch, `main` untouched;
every user file, secret, `.git/config` and the folder outside exactly as they were; the saved
state loads; and the agent can start again (the next command works)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import random
from pathlib import Path

import pytest

from mlr_copilot.cli.output import say
from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.experiment.agent import READ, ImplementState
from mlr_copilot.experiment.change import CommitFailedError, Review
from mlr_copilot.experiment.debug import propose_fix
from mlr_copilot.experiment.edit_blocks import MalformedEditError, parse_edits
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.llm.base import ScriptError
from mlr_copilot.runners.model import Failure, RunRecord
from mlr_copilot.untrusted import one_line
from mlr_copilot.work import Work
from tests.gitutil import git, make_repo

from .mutations import SEED, USER_FILES, edit_cases, edit_reply

TRAIN = "EPOCHS = 3\n\n\ndef main():\n    pass\n\n\ndef evaluate():\n    pass\n"
VALID = edit_reply("train.py", "EPOCHS = 3", "EPOCHS = 4", summary="Four epochs")
PLANTED = {
    "notes.txt": b"my own notes, never committed\n",
    "data/big.csv": b"a,b\n1,2\n",
    ".env": b"OPENAI_API_KEY=sk-fuzz-secret\n",
    ".env.local": b"TOKEN=sk-fuzz-local\n",
    "secrets.json": b'{"token": "sk-fuzz-json"}\n',
    "config/credentials.yaml": b"password: hunter2\n",
    "id_rsa": b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "server.pem": b"-----BEGIN CERTIFICATE-----\n",
    ".netrc": b"machine example.org password hunter2\n",
}
# Section 2 of issue 11 (another branch) refuses edits that would write over the user's
# untracked or ignored files; until it is merged, losing one of those is the known defect.
USER_FILES_GUARDED = importlib.util.find_spec("mlr_copilot.experiment.transaction") is not None
CASES = [
    pytest.param(kind, variant, reply, id=f"{kind}-{variant}-{name}")
    for kind in ("implement.step", "debug.fix")
    for name, reply in edit_cases(VALID, "train.py", "EPOCHS = 3", random.Random(f"{SEED}-{kind}"))
    for variant in (("retry", "persistent") if kind == "implement.step" else ("persistent",))
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "ws", {"train.py": TRAIN, ".gitignore": "data/\n"})
    for rel, data in PLANTED.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    os.mkfifo(root / "pipe.py")
    (tmp_path / "outside").mkdir()
    (root / "link-out").symlink_to(tmp_path / "outside")
    return root


def engine_for(workspace: Path, replies: list[tuple[str, str]]) -> Engine:
    script = workspace.parent / "script.jsonl"
    script.write_text("".join(json.dumps({"call": c, "response": r}) + "\n" for c, r in replies))
    settings, _ = validate_settings({"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False},
                                     "implement": {"maxSteps": 2, "maxEditRetries": 2}})
    engine = Engine(workspace, settings)
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric="accuracy", direction="maximize",
                          steps=["train longer"], expected_improvement="+5%")
    hypothesis = Hypothesis(id="h1", paper="paper", rank=1, status="accepted", title="More epochs", problem="p",
                            method="m", rationale="r", plan=plan)
    engine.ideas.store.save(IdeasRun(paper_path="paper.pdf", paper_slug="paper", paper_title="Paper",
                                     hypotheses=[hypothesis], analysis=Analysis(task="t", gaps=["g"], keywords=["k"])))
    return engine


async def accept(proposal) -> Review:
    return Review(True)


async def refuse_init(problem: str) -> bool:
    return False


def failed_run(workspace: Path) -> RunRecord:
    return RunRecord(id="r1", command="python train.py", runner="local", started_at="2026-12-02T00:00:00Z",
                     status="failed", commit=git(workspace, "rev-parse", "HEAD").strip(),
                     failures=[Failure(path="train.py", line=1, kind="exception", error_type="ValueError",
                                       message="bad epochs")])


def attempt(kind: str, engine: Engine, workspace: Path) -> list[str]:
    """Run the call's flow; the lines the terminal would show of its outcome."""
    if kind == "implement.step":
        state = asyncio.run(engine.implement("h1", accept, Work(), refuse_init))
        return [f"{state.status} ({state.message})"] + [f"{s.summary} [{s.outcome}] {s.reason}" for s in state.steps]
    outcome = asyncio.run(propose_fix(engine.context(), failed_run(workspace), accept, Work(), [], "h1"))
    return [] if outcome is None else [f"{outcome.proposal.summary}: {outcome.commit} {outcome.review.reason}"]


def answered(reply: str) -> bool:
    """Whether the agent answers the reply (a broken or failed edit, a request to read) and so
    takes the next one, rather than ending the run."""
    try:
        return bool(parse_edits(reply) or READ.search(reply))
    except MalformedEditError:
        return True


def check_git(workspace: Path, base: str) -> None:
    changed = [line for line in git(workspace, "status", "--porcelain=v1", "--untracked-files=all").splitlines()
               if not line.startswith("?? ")]
    assert changed == [], f"uncommitted tracked changes left: {changed}"
    assert git(workspace, "rev-parse", "main").strip() == base or git(workspace, "branch", "--show-current").strip() == "main"
    for body in git(workspace, "log", "--format=%B%x00", f"{base}..HEAD").split("\0"):
        assert not body.strip() or "MLR-Hypothesis: h1" in body, f"a commit not made by the agent: {body[:200]}"


def check_files(workspace: Path, config: bytes, case: str) -> None:
    outside = workspace.parent / "outside"
    assert list(outside.iterdir()) == [] and not (workspace.parent / "outside.py").exists()
    assert not Path("/tmp/mlr-fuzz-absolute.py").exists()
    assert (workspace / ".git" / "config").read_bytes() == config
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    assert (workspace / "pipe.py").is_fifo()
    for rel, data in PLANTED.items():
        path = workspace / rel
        lost = not path.is_file() or path.read_bytes() != data
        if lost and rel in USER_FILES and not USER_FILES_GUARDED:
            pytest.xfail(f"{case}: {rel} overwritten (refused once section 2, edits to the user's files, is merged)")
        assert not lost, f"{rel} was changed or removed"


def check_next(workspace: Path, shown: list[str]) -> None:
    for path in (workspace / ".mlr").rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    state = workspace / ".mlr" / "implement" / "h1" / "state.json"
    if state.exists():
        assert ImplementState.model_validate_json(state.read_text(encoding="utf-8")).status != "running"
    engine = Engine(workspace, validate_settings({})[0])
    engine.git.check_clean_for_agent()  # the next implement or debug may start
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for line in shown:
            say(line)
        say(engine.history_table().render_text())
    assert not any(code in out.getvalue() for code in ("\x1b", "\x07", "\x9b", "\r"))


@pytest.mark.parametrize("kind, variant, reply", CASES)
def test_hostile_edit_reply(kind, variant, reply, workspace, request):
    base = git(workspace, "rev-parse", "HEAD").strip()
    config = (workspace / ".git" / "config").read_bytes()
    hostile = [reply, VALID] if variant == "retry" else [reply] * 3
    engine = engine_for(workspace, [(kind, r) for r in hostile + ["DONE: stop"] * 3])
    try:
        shown = attempt(kind, engine, workspace)
    except MlrError as exc:
        # a failed edit is a step of implement and an error of a fix; a change that could not
        # be committed (the user's file it would delete) is an error of both, its files put back
        assert not isinstance(exc, ScriptError), exc
        assert kind == "debug.fix" or isinstance(exc, CommitFailedError), exc
        message = one_line(exc)
        assert "could not be applied" in message or "back as they were" in message, message
        shown = [message]
    if any(f"\n{path}\n<<<<<<<" in reply for path in USER_FILES):
        pass  # the user's own files: a clear error or a clean retry, and (below) nothing of theirs lost
    elif variant == "retry" and answered(reply):
        # an edit that failed, or a request to read, is answered and the recorded edit then taken
        assert "[committed]" in "\n".join(shown), shown
    elif kind == "implement.step":
        # a reply with no edit ends the run; with nothing committed that is its own outcome
        assert shown[0].startswith(("done", "stopped", "nothing-implemented (nothing implemented: ")), shown
    check_git(workspace, base)
    check_files(workspace, config, request.node.callspec.id)
    check_next(workspace, shown)
