"""Start-up without timing: the commands that do no LLM or experiment work must not import
the packages that made them slow (asyncio, the docker SDK, the LLM SDKs and agents, the LSP
layer). Each command runs in a fresh interpreter, which then lists what it imported; the
speed figures themselves are `bench/bench_startup.py`'s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import ENV, cli, no_traceback

# what only the commands that start an event loop, a container, an LLM call or the server need
HEAVY = ("asyncio", "docker", "git", "requests", "httpx", "openai", "anthropic", "pygls", "lsprotocol",
         "mlr_copilot.llm.client", "mlr_copilot.llm.factory", "mlr_copilot.ideas.agent",
         "mlr_copilot.experiment.agent", "mlr_copilot.lsp", "mlr_copilot.runners.docker",
         "mlr_copilot.runners.base",  # the run machinery: process trees, log sinks, secret scrubbing
         # the providers' modules (read from the registry only when a spec is), the agents' view of
         # a workspace, and python-dotenv (envfile.py parses a workspace's .env as it does)
         "mlr_copilot.llm.openai_provider", "mlr_copilot.llm.anthropic_provider", "mlr_copilot.llm.sdk_errors",
         "mlr_copilot.context", "mlr_copilot.experiment", "dotenv",
         # a provider's call machinery (the spec alone gives `status` its default model)
         "mlr_copilot.llm.base", "mlr_copilot.llm.model_list", "mlr_copilot.llm.redaction",
         # the host name comes from os.uname; a process's start time is asked only of a live owner
         "socket", "mlr_copilot.runners.proctree",
         "rich",  # the tables are plain text (cli/table.py): rich took 30-40 ms to import
         # it imports `inspect`, and each class costs up to a millisecond: the light records and
         # the objective are NamedTuples (plain.py)
         "dataclasses",
         "pydantic")  # compare's records are read by RunSummary and RunSetup, its diff without GitPython ("git")

PROBE = """
import contextlib, io, json, sys
from mlr_copilot import cli
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = cli.main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "err": err.getvalue(), "modules": sorted(sys.modules)}))
"""


def imported(*argv: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=ENV, timeout=120)
    no_traceback(result)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, list[str]]:
    """A git repository with two finished local runs of a script reporting a metric."""
    root = tmp_path_factory.mktemp("startup")
    (root / "train.py").write_text("print('METRIC accuracy=0.9')\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "train.py"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    runs = []
    for _ in range(2):
        result = cli("run", "--runner", "local", "--json", "-w", str(root))
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout)["id"])
    return root, runs


def heavy(modules: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    """The modules of `HEAVY` (a package and its submodules) imported, but those of `allowed`."""
    return [name for name in modules
            if any(name == h or name.startswith(h + ".") for h in HEAVY if h not in allowed)]


# the provider's spec that names the default model `status` prints (not its SDK)
DEFAULT_SPEC = ("mlr_copilot.llm.openai_provider",)


@pytest.mark.parametrize("command, code, allowed", [
    (["history"], 0, ()),
    (["history", "--json"], 0, ()),
    (["history", "--csv"], 0, ()),
    (["status"], 0, DEFAULT_SPEC),
    (["hypotheses"], 0, ()),
    (["queue"], 0, ()),  # the queue's files, not the event loop of the queue that owns the runs
    (["accept", "h9"], 2, ()),  # no such hypothesis: the same imports as a decision, up to the lookup
    (["reject", "h9"], 2, ()),
    (["checkout-run", "20990101-000000-abcdef"], 2, ()),  # no such run: refused before the models load
])
def test_light_commands_import_no_heavy_package(workspace, command, code, allowed):
    root, _runs = workspace
    probe = imported(*command, "-w", str(root))
    assert probe["code"] == code, probe["err"]
    assert heavy(probe["modules"], allowed) == []


def test_compare_imports_neither_pydantic_nor_gitpython(workspace):
    root, (run_a, run_b) = workspace
    probe = imported("compare", run_a, run_b, "-w", str(root))
    assert probe["code"] == 0, probe["err"]
    # the records are read by `RunSummary` and `RunSetup` (plain.py), the diff by one `git diff`
    # through gitsafe (workspace/diffs.py); never the run machinery
    assert heavy(probe["modules"]) == []


def test_undo_imports_only_the_git_layer_it_works_with(workspace):
    root, _runs = workspace
    probe = imported("undo", "-w", str(root))
    assert probe["code"] == 2 and "undo" in probe["err"]  # no agent commit to revert
    # an edit a killed agent left half done would be settled first (`experiment.transaction`,
    # with the run machinery and pydantic): with none waiting, neither is loaded; git runs as
    # plain processes (gitsafe), without GitPython
    assert heavy(probe["modules"]) == []
    assert [m for m in probe["modules"] if m.startswith("pydantic")] == []


@pytest.mark.parametrize("command", [["history"], ["history", "--json"], ["history", "--csv"], ["queue"],
                                     ["queue", "--json"], ["status"]])
def test_history_queue_and_status_start_without_pydantic(workspace, command):
    """Their records are plain records (plain.py, runners/summary.py) and, with no setting
    given, the settings are never validated: pydantic alone was more than the 120 ms these
    commands may take (bench/bench_startup.py)."""
    root, _runs = workspace
    probe = imported(*command, "-w", str(root))
    assert probe["code"] == 0, probe["err"]
    assert [m for m in probe["modules"] if m.startswith(("pydantic", "mlr_copilot.config"))] == []


def test_a_setting_given_is_still_validated_and_warned_about(workspace):
    """The other side of the lazy settings: a value the command reads is validated when it
    reads it, before its output, a bad one warned about as before, a good one used; one it
    never reads (`status` shows no budget) is left for the commands that do."""
    root, _runs = workspace
    bad = cli("status", "-w", str(root), env={"MLR_PROVIDER": "nonesuch"})
    assert bad.returncode == 0, bad.stderr
    assert bad.stderr.count("\n") == 1 and "setting 'llm.provider' is invalid" in bad.stderr
    assert json.loads(bad.stdout)["provider"] == "openai"
    good = cli("status", "--model", "my-model", "-w", str(root))
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["model"] == "my-model"
    unread = cli("status", "--budget", "-1", "-w", str(root))
    assert unread.returncode == 0 and unread.stderr == ""
    assert json.loads(unread.stdout)["usage"]["budget_usd"] is None
    spent = cli("ideas", "paper.pdf", "--budget", "-1", "-w", str(root))
    assert "setting 'llm.budget_usd' is invalid" in spent.stderr  # a command that reads it says so


@pytest.fixture(scope="module")
def lived_in(tmp_path_factory) -> Path:
    """The workspace `mlr-copilot demo` leaves, as bench/bench_startup.py builds it: a task,
    hypotheses (one accepted, its branch checked out, with runs), a budget in `.env`, a search."""
    from bench.bench_startup import lived_in

    root = tmp_path_factory.mktemp("lived-in")
    lived_in(root, ENV)
    return root


@pytest.mark.parametrize("command", [["history"], ["history", "--json"], ["history", "--csv"], ["hypotheses"],
                                     ["hypotheses", "--json"], ["queue"], ["queue", "--json"], ["status"]])
def test_the_read_only_commands_start_without_pydantic_in_a_lived_in_workspace(lived_in, command):
    """The hypotheses are read as summaries (ideas/summary.py), or as stored when each is what
    the model dumps (an accepted one too: its decision's time), the task as a plain record
    (taskfile.py), the search's journal as its summary (search/summary.py) and the settings the
    workspace gives are validated when one is read."""
    probe = imported(*command, "-w", str(lived_in))
    assert probe["code"] == 0, probe["err"]
    assert probe["err"] == ""
    assert [m for m in probe["modules"] if m.startswith(("pydantic", "mlr_copilot.config"))] == []
    assert heavy(probe["modules"], DEFAULT_SPEC) == []  # the workspace's `.env` is parsed (envfile.parse_env)


def test_compare_of_two_snapshots_diffs_them_without_gitpython(lived_in):
    """The lived-in runs ran on uncommitted work: two snapshot commits, so a diff is taken."""
    run_a, run_b = sorted(path.stem for path in (lived_in / ".mlr" / "runs").glob("*.json"))[-2:]
    probe = imported("compare", run_a, run_b, "-w", str(lived_in))
    assert probe["code"] == 0 and probe["err"] == "", probe["err"]
    assert "mlr_copilot.workspace.diffs" in probe["modules"]
    assert heavy(probe["modules"]) == []  # the workspace's `.env` is parsed (envfile.parse_env)


def test_help_imports_neither_the_engine_nor_pydantic():
    probe = imported("--help")
    assert probe["code"] == 0
    assert not [m for m in probe["modules"] if m.startswith(("pydantic", "mlr_copilot.engine", "mlr_copilot.config"))]
    assert heavy(probe["modules"]) == []


def test_an_unknown_hypothesis_is_refused_before_the_models_load(lived_in):
    """A decision on an id no hypothesis has (a typo) is said from the summaries; a real one
    needs the models, which write the proposal and its document."""
    probe = imported("accept", "h9", "-w", str(lived_in))
    assert probe["code"] == 2 and "no hypothesis 'h9' in this workspace (known: h1, h2, h3)" in probe["err"]
    assert [m for m in probe["modules"] if m.startswith("pydantic")] == []

