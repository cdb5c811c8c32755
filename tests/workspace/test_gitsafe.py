"""Git on the host runs no program a repository names: a workspace whose `.git/config` (or a
file it includes) and `.git/hooks` name programs, as a cloned workspace or an experiment could
plant them, goes through the project's real commands (doctor, run, history, an implement
commit, undo, the workspace map, a prototype clone, the whole autonomous loop) and not one of
those programs runs, while the user's own configuration keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlr_copilot.autonomous.bundled import bundled_task, copy_task
from mlr_copilot.autonomous.demo import DEMO_TASK, demo_files
from mlr_copilot.experiment.repomap import repo_map
from mlr_copilot.retrieval.code import clone
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.git import GitWorkspace
from tests.gitutil import git, make_repo

# Every hook git 2.x knows that one of the project's commands could reach.
HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout", "post-merge",
         "reference-transaction", "post-rewrite", "pre-auto-gc", "post-index-change", "fsmonitor-watchman")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("MLR_")}
    return subprocess.run([sys.executable, "-m", "mlr_copilot.cli", *args], capture_output=True, text=True,
                          env={**env, "MLR_PROVIDER": "scripted"}, timeout=300)


def plant(repo: Path, marks: Path) -> None:
    """Programs named in every place git takes one from: each would leave a file in `marks`."""
    def touch(name: str) -> str:
        return f"touch {marks / name}; cat"

    hooks = repo / ".git" / "planted-hooks"
    for folder in (hooks, repo / ".git" / "hooks"):
        folder.mkdir(exist_ok=True)
        for name in HOOKS:
            (folder / name).write_text(f"#!/bin/sh\ntouch {marks / ('hook-' + folder.name + '-' + name)}\n")
            (folder / name).chmod(0o755)
    config = {
        "core.fsmonitor": touch("fsmonitor"), "core.hooksPath": str(hooks), "core.pager": touch("pager"),
        "pager.log": touch("pager-log"), "pager.show": touch("pager-show"), "alias.status": f"!{touch('alias-status')}",
        "alias.log": f"!{touch('alias-log')}", "alias.commit": f"!{touch('alias-commit')}",
        "diff.external": touch("diff-external"), "diff.evil.textconv": touch("textconv"),
        "diff.evil.command": touch("diff-command"), "filter.evil.clean": touch("clean"),
        "filter.evil.smudge": touch("smudge"), "filter.evil.process": touch("process"),
        "merge.evil.driver": touch("merge-driver"), "core.sshCommand": touch("ssh"), "core.editor": touch("editor"),
        "sequence.editor": touch("sequence-editor"), "gpg.program": touch("gpg"), "commit.gpgSign": "true",
        "credential.helper": f"!{touch('credential')}", "core.askPass": touch("askpass"),
        "include.path": "../planted.gitconfig",
    }
    for key, value in config.items():
        git(repo, "config", key, value)
    # a filter defined in a file of the workspace that the repository's config includes
    (repo / "planted.gitconfig").write_text(f"[filter \"inc\"]\n\tclean = \"{touch('included-clean')}\"\n"
                                            f"\tsmudge = \"{touch('included-smudge')}\"\n")


def workspace(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "ws", {
        "train.py": "import json\njson.dump({'acc': 0.5}, open('results.json', 'w'))\n",
        "data.txt": "one\n", "table.dat": "1\n",
        ".gitattributes": "*.txt filter=evil diff=evil merge=evil\n*.dat filter=inc diff=evil\n",
        ".gitignore": ".mlr/\nresults.json\n",
    })
    return repo


def test_planted_programs_never_run_across_the_projects_commands(tmp_path):
    repo, marks = workspace(tmp_path), tmp_path / "marks"
    marks.mkdir()
    plant(repo, marks)

    doctor = cli("doctor", "-w", str(repo))
    assert "branch main" in doctor.stdout, doctor.stdout + doctor.stderr
    first = cli("run", "-w", str(repo), "--runner", "local", "--json", "--", sys.executable, "train.py")
    assert first.returncode == 0, first.stderr
    gw = GitWorkspace(repo)
    gw.checkout_branch("mlr/h1")
    (repo / "data.txt").write_text("one\ntwo\n")
    (repo / "table.dat").write_text("1\n2\n")
    sha = gw.commit_paths(["data.txt", "table.dat"], "Implement step 1", {"MLR-Hypothesis": "h1"})
    assert "+two" in gw.diff_between(f"{sha}~1", sha)[0]
    assert cli("run", "-w", str(repo), "--runner", "local", "--", sys.executable, "train.py").returncode == 0
    history = cli("history", "-w", str(repo), "--json")
    assert history.returncode == 0 and sha in history.stdout, history.stderr
    undo = cli("undo", "-w", str(repo))
    assert undo.returncode == 0, undo.stderr
    assert (repo / "data.txt").read_text() == "one\n"
    assert gw.last_agent_commit() is None
    gw.checkout_branch("main")
    assert "train.py" in {entry.path for entry in repo_map(repo).files}
    assert clone(f"file://{repo}", tmp_path / "cache" / "proto") is None

    assert sorted(path.name for path in marks.iterdir()) == []


def test_the_users_own_config_still_applies(tmp_path, isolated_git_config):
    """A filter the user configured (git-lfs is one) runs; the same name set again by the
    repository does not replace it, and a credential helper list the repository extends keeps
    only the user's entries."""
    marks = tmp_path / "marks"
    marks.mkdir()
    isolated_git_config.write_text(f"[filter \"mine\"]\n\tclean = \"touch {marks / 'user-clean'}; cat\"\n"
                                   "[credential]\n\thelper = store\n")
    repo = make_repo(tmp_path / "ws", {"a.txt": "1\n", ".gitattributes": "*.txt filter=mine\n"})
    git(repo, "config", "filter.mine.clean", f"touch {marks / 'repo-clean'}; cat")
    git(repo, "config", "--add", "credential.helper", f"!touch {marks / 'repo-credential'}")
    gw = GitWorkspace(repo)
    gw.checkout_branch("mlr/h1")
    (repo / "a.txt").write_text("2\n")
    gw.commit_paths(["a.txt"], "Step", {"MLR-Hypothesis": "h1"})
    # asking for a password runs every helper of the list
    gitsafe.run(repo, "credential", "fill", input=b"protocol=https\nhost=example.com\n\n", timeout=30)
    assert sorted(path.name for path in marks.iterdir()) == ["user-clean"]


def test_the_autonomous_loop_runs_nothing_a_repository_planted(tmp_path):
    """`auto` on the demo task, its code under a planted filter, diff and merge driver: the
    baseline, the agent's commits, the failed run, the fix commit and the return to main."""
    workspace = copy_task(bundled_task(DEMO_TASK), tmp_path / "ws")
    (workspace / ".gitattributes").write_text("*.py filter=evil diff=evil merge=evil\n")
    git(workspace, "init", "-q", "--initial-branch=main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "initial")
    marks = tmp_path / "marks"
    marks.mkdir()
    plant(workspace, marks)
    paper, script = demo_files()
    result = cli("auto", "-w", str(workspace), "--paper", str(paper), "--script", str(script), "--offline",
                 "--runner", "local", "--hypotheses", "1")
    assert result.returncode == 0 and "Status: done" in result.stdout, result.stdout + result.stderr
    assert "Fix committed" in result.stderr
    assert sorted(path.name for path in marks.iterdir()) == []


def test_configuration_the_workspace_chose_by_variable_is_untrusted_too(tmp_path, monkeypatch):
    """Programs named by a global config file that lies in the workspace (GIT_CONFIG_GLOBAL
    pointing there, as a workspace's .env could make it) or by GIT_CONFIG_PARAMETERS do not run;
    the commit itself goes through."""
    marks = tmp_path / "marks"
    marks.mkdir()
    repo = make_repo(tmp_path / "ws", {"a.txt": "1\n", ".gitattributes": "*.txt filter=mine diff=mine\n"})
    planted = repo / "tools" / "gitconfig"
    planted.parent.mkdir()
    planted.write_text(f"[filter \"mine\"]\n\tclean = \"touch {marks / 'global-in-workspace'}; cat\"\n"
                       "[user]\n\tname = Planted\n\temail = planted@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(planted))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.fsmonitor'='touch {marks / 'parameters'}' "
                                                f"'diff.mine.textconv'='touch {marks / 'textconv'}; cat'")
    gw = GitWorkspace(repo)
    gw.checkout_branch("mlr/h1")
    (repo / "a.txt").write_text("2\n")
    sha = gw.commit_paths(["a.txt"], "Step", {"MLR-Hypothesis": "h1"})
    assert "+2" in gw.diff_between(f"{sha}~1", sha)[0]
    assert sorted(path.name for path in marks.iterdir()) == []


def test_a_submodules_own_configuration_is_never_entered(tmp_path):
    """git status and diff run git inside each submodule, with the submodule's configuration;
    its pointer file and `.gitmodules` are in the work tree, which an experiment can write."""
    marks = tmp_path / "marks"
    marks.mkdir()
    sub = make_repo(tmp_path / "sub", {"a.txt": "a\n", ".gitattributes": "*.txt filter=evil\n"})
    repo = make_repo(tmp_path / "ws", {"train.py": "print(1)\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(repo, "commit", "-q", "-m", "submodule")
    (repo / ".gitmodules").write_text((repo / ".gitmodules").read_text() + "\tignore = none\n")
    git(repo, "commit", "-q", "-am", "ignore none")
    git(repo / "sub", "config", "filter.evil.clean", f"touch {marks / 'submodule-clean'}; cat")
    (repo / "sub" / "a.txt").write_text("b\n")  # same size: git must read it to compare
    os.utime(repo / "sub" / "a.txt", (2_000_000_000, 2_000_000_000))
    gw = GitWorkspace(repo)
    gw.check_clean_for_agent()
    assert cli("run", "-w", str(repo), "--runner", "local", "--", sys.executable, "train.py").returncode == 0
    cli("doctor", "-w", str(repo))
    gw.checkout_branch("mlr/h1")
    assert sorted(path.name for path in marks.iterdir()) == []


def test_a_prototype_clone_runs_no_program_a_variable_names(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.sshCommand'='touch {marks / 'ssh'}'")
    reason = clone("ssh://git.example.invalid/proto.git", tmp_path / "cache" / "proto")
    assert reason and "\n" not in reason
    assert sorted(path.name for path in marks.iterdir()) == []


def test_the_configuration_is_read_once_until_a_file_of_it_changes(tmp_path, monkeypatch):
    """A command that writes in `.git` (status refreshes the index) does not make the next one
    read the configuration again; a key planted in `.git/config` afterwards still is read."""
    root = make_repo(tmp_path / "ws", {"a.txt": "a\n"})
    reads: list[Path] = []
    real = gitsafe._read_config

    def counted(where: Path) -> list[tuple[str, str, str, str]]:
        reads.append(where)
        return real(where)

    monkeypatch.setattr(gitsafe, "_read_config", counted)
    gitsafe._cache.clear()
    for _ in range(3):
        assert gitsafe.run(root, "status", "--porcelain").returncode == 0
    assert len(reads) == 1
    with open(root / ".git" / "config", "a", encoding="utf-8") as config:
        config.write("[core]\n\tsshCommand = touch planted\n")
    assert ("core.sshcommand", "") in gitsafe._repository_overrides(root)
    assert len(reads) == 2
