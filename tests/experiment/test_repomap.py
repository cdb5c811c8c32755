import os
import sys
import threading
from contextlib import contextmanager

import pytest

from mlr_copilot.experiment.repomap import RepoMap, repo_map
from tests.gitutil import git

MODEL = '''import torch


class Net(torch.nn.Module):
    def __init__(self, width):
        super().__init__()

    def forward(self, x):
        return x


async def fetch(url, *, retries=3, **kw):
    pass


def train(model, loader, epochs=1, *args):
    def inner():
        pass


LR = 0.1
'''

_opened: list[str] = []
_recording = threading.local()


def _audit(event, args):
    if event == "open" and getattr(_recording, "on", False) and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextmanager
def opened_files():
    """Record every file this thread opens (Python's audit events, no patching)."""
    _opened.clear()
    _recording.on = True
    try:
        yield _opened
    finally:
        _recording.on = False


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "model.py").write_text(MODEL)
    (root / "README.md").write_text("# project\n")
    (root / "broken.py").write_text("def f(:\n")
    (root / "weights.pt").write_bytes(b"\x00" * 100)
    (root / "blob.unknown").write_bytes(b"abc\x00def")
    with open(root / "data.csv", "wb") as handle:
        handle.truncate(500 * 1024 * 1024)  # sparse: no disk used
    for skipped in (".mlr", "node_modules/pkg", "src/__pycache__", ".venv/lib"):
        (root / skipped).mkdir(parents=True)
        (root / skipped / "ignored.py").write_text("def hidden(): pass\n")
    return root


def by_path(result: RepoMap):
    return {entry.path: entry for entry in result.files}


def test_map_lists_files_with_kinds_and_outlines(ws):
    files = by_path(repo_map(ws))
    assert sorted(files) == ["README.md", "blob.unknown", "broken.py", "data.csv", "src/model.py", "weights.pt"]
    assert files["src/model.py"].kind == "python"
    assert files["src/model.py"].outline == [
        "class Net(torch.nn.Module): __init__, forward",
        "async def fetch(url, *, retries, **kw)",
        "def train(model, loader, epochs, *args)",
    ]
    assert files["broken.py"].outline == ["(does not parse: line 1)"]
    assert files["data.csv"].kind == "large" and files["data.csv"].size == 500 * 1024 * 1024
    assert files["weights.pt"].kind == "binary"
    assert files["blob.unknown"].kind == "binary"
    assert files["README.md"].kind == "text"


def test_large_and_binary_files_are_never_opened(ws):
    with opened_files() as opened:
        repo_map(ws)
    assert any(path.endswith("model.py") for path in opened)
    assert not [p for p in opened if p.endswith(("data.csv", "weights.pt"))]


def test_second_call_on_unchanged_tree_reads_nothing_and_edits_are_seen(ws):
    repo_map(ws)
    with opened_files() as opened:
        again = repo_map(ws)
    assert opened == []
    assert by_path(again)["src/model.py"].outline[0].startswith("class Net")

    (ws / "src" / "model.py").write_text("def changed(a):\n    pass\n")
    with opened_files() as opened:
        updated = repo_map(ws)
    assert [os.path.basename(p) for p in opened] == ["model.py"]
    assert by_path(updated)["src/model.py"].outline == ["def changed(a)"]


def test_git_repository_listing_respects_gitignore(ws):
    (ws / ".gitignore").write_text("secret/\n*.log\n")
    (ws / "secret").mkdir()
    (ws / "secret" / "key.py").write_text("KEY = 1\n")
    (ws / "run.log").write_text("log\n")
    git(ws, "init", "-q")
    git(ws, "add", "README.md")
    (ws / "untracked.py").write_text("def new(): pass\n")
    files = by_path(repo_map(ws))
    assert "untracked.py" in files and "README.md" in files and ".gitignore" in files
    assert "secret/key.py" not in files and "run.log" not in files
    assert not [p for p in files if p.startswith((".git/", ".mlr/", "node_modules/", ".venv/")) or "__pycache__" in p]


def test_max_files_keeps_the_shallowest(ws):
    deep = ws / "a" / "b"
    deep.mkdir(parents=True)
    for i in range(5):
        (deep / f"f{i}.txt").write_text("x")
    result = repo_map(ws, max_files=6)
    assert result.omitted == 5
    assert "a/b/f0.txt" not in by_path(result)
    assert "... 5 more files" in result.render(10_000)


def test_render_fits_the_budget_dropping_outlines_first(ws):
    result = repo_map(ws)
    full = result.render(10_000)
    assert "src/model.py (" in full and "  class Net(torch.nn.Module): __init__, forward" in full
    assert "data.csv (500.0 MB, large, not read)" in full

    headers_only = len("\n".join(line for line in full.splitlines() if not line.startswith("  ")))
    trimmed = result.render(headers_only + 5)
    assert len(trimmed) <= headers_only + 5
    assert "class Net" not in trimmed and "src/model.py (" in trimmed

    tiny = result.render(60)
    assert len(tiny) <= 60
    assert tiny.splitlines()[-1].endswith("more files")


def test_round_trips_through_json(ws):
    result = repo_map(ws)
    assert RepoMap.model_validate_json(result.model_dump_json()) == result


def _git_repo(root):
    # The 500 MB data file stays untracked, as a dataset would: hashing it would take seconds.
    for args in (["init", "-q"], ["add", "-A", "--", ".", ":!data.csv"], ["commit", "-qm", "i"]):
        git(root, *args)


@pytest.mark.parametrize("seed", range(6))
def test_a_map_kept_path_by_path_equals_a_map_built_again(ws, seed):
    """Whatever files are created, changed or deleted, the kept map reads as a full one."""
    import random

    from mlr_copilot.experiment.repomap import WorkspaceMap

    _git_repo(ws)
    rng = random.Random(seed)
    kept = WorkspaceMap(ws)
    kept.current()
    names = ["src/model.py", "src/new.py", "README.md", "deep/a/b.py", "notes.txt", "big.bin", "src/__pycache__/x.py"]
    for _ in range(12):
        touched = rng.sample(names, 3)
        for rel in touched:
            path = ws / rel
            action = rng.choice(["write", "write", "delete"])
            if action == "delete":
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                n = rng.randint(1, 9)
                path.write_text("".join(f"def f{i}(x{i}):\n    pass\n" for i in range(n)) if rel.endswith(".py") else "x" * n)
        kept.changed(touched, tracked=rng.random() < 0.5)
        full = repo_map(ws)
        assert [(f.path, f.size, f.outline) for f in kept.current().files] == [(f.path, f.size, f.outline) for f in full.files]
        assert kept.current().render(600) == full.render(600)


def test_a_reported_file_that_git_ignores_stays_out_of_the_kept_map(ws):
    from mlr_copilot.experiment.repomap import WorkspaceMap

    (ws / ".gitignore").write_text("outputs/\n")
    _git_repo(ws)
    kept = WorkspaceMap(ws)
    kept.current()
    (ws / "outputs").mkdir()
    (ws / "outputs" / "run.log").write_text("loss 1\n")
    (ws / "src" / "extra.py").write_text("def extra(a):\n    pass\n")
    (ws / ".mlr" / "run.log").write_text("loss 1\n")
    kept.changed(["outputs/run.log", "src/extra.py", ".mlr/run.log"])
    paths = [f.path for f in kept.current().files]
    assert "src/extra.py" in paths and "outputs/run.log" not in paths and ".mlr/run.log" not in paths
    assert kept.current().entry("src/extra.py").outline == ["def extra(a)"]


def test_a_step_with_nothing_reported_reads_and_lists_nothing(ws, monkeypatch):
    from mlr_copilot.experiment import repomap
    from mlr_copilot.experiment.repomap import WorkspaceMap

    _git_repo(ws)
    kept = WorkspaceMap(ws)
    first = kept.current()
    listed = []
    monkeypatch.setattr(repomap, "_git_listing", lambda root: listed.append(root))
    with opened_files() as opened:
        assert kept.current() is first
    assert opened == []
    (ws / "src" / "model.py").write_text("def only(a):\n    pass\n")
    with opened_files() as opened:
        kept.changed(["src/model.py"], tracked=True)
        assert kept.current().entry("src/model.py").outline == ["def only(a)"]
    assert listed == [] and [os.path.basename(p) for p in opened] == ["model.py"]


def test_the_changes_since_an_earlier_map_say_what_the_map_now_says_differently(ws):
    """A step's prompt shows the map as the run started and only these after it: every file
    added, changed in size or outline, or gone, in path order; nothing for an unchanged one."""
    before = repo_map(ws)
    assert before.changes_since(before) == "(none)"
    (ws / "src" / "model.py").write_text(MODEL + "\n\ndef evaluate(model):\n    pass\n")
    (ws / "src" / "added.py").write_text("def helper(a, b):\n    pass\n")
    (ws / "README.md").write_text("# PROJECT\n")  # same size, no outline: the map shows it the same
    (ws / "broken.py").unlink()
    after = repo_map(ws)
    changes = after.changes_since(before)
    assert changes.splitlines()[0] == "broken.py (removed)"
    assert "src/added.py (" in changes and "  def helper(a, b)" in changes and "  def evaluate(model)" in changes
    assert changes.index("src/added.py") < changes.index("src/model.py")
    assert "README.md" not in changes and "weights.pt" not in changes and "data.csv" not in changes
    # within the budget, as the map itself
    assert len(after.changes_since(before, 60)) <= 60
