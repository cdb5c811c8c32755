from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlr_copilot.retrieval.code import chunk_file, search_code
from tests.gitutil import git

TRAIN = textwrap.dedent(
    '''\
    import torch

    LEARNING_RATE = 3e-4


    # Warmup matters for transformers.
    def build_optimizer(model, lr=LEARNING_RATE):
        """AdamW with linear warmup."""
        return torch.optim.AdamW(model.parameters(), lr=lr)


    @torch.no_grad()
    def evaluate_accuracy(model, loader):
        correct = 0
        for batch in loader:
            correct += (model(batch.x).argmax(-1) == batch.y).sum()
        return correct


    class ResidualBlock(torch.nn.Module):
        def __init__(self, width):
            super().__init__()
            self.linear = torch.nn.Linear(width, width)

        def forward(self, x):
            return x + self.linear(x)


    if __name__ == "__main__":
        main()
    '''
)

LOSSES = textwrap.dedent(
    '''\
    import torch.nn.functional as F


    def contrastive_loss(anchors, positives, temperature=0.07):
        """InfoNCE between two views of the same batch."""
        logits = anchors @ positives.T / temperature
        return F.cross_entropy(logits, torch.arange(len(anchors)))
    '''
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "train.py").write_text(TRAIN)
    (ws / "README.md").write_text("# Project\n\nTrains a residual network on CIFAR-10.\n")
    (ws / "notes.txt").write_text("\n".join(f"line {i} about gradient clipping" if i == 100 else f"line {i}" for i in range(1, 131)))
    (ws / "blob.txt").write_bytes(b"optimizer\0\x01\x02" * 100)
    (ws / "huge.txt").write_text("optimizer " * 120_000)
    for skipped in ["node_modules/lib", ".git", ".mlr/cache", "env"]:
        (ws / skipped).mkdir(parents=True, exist_ok=True)
        (ws / skipped / "optim.py").write_text("def build_optimizer():\n    return 'copy'\n")
    (ws / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return ws


@pytest.fixture
def prototype_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "simclr"
    repo.mkdir()
    (repo / "losses.py").write_text(LOSSES)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "losses")
    return repo


def test_workspace_chunks_are_found_by_definition(workspace: Path, tmp_path: Path):
    result = search_code("build optimizer adamw", workspace=workspace, sources=[], cache_dir=tmp_path / "cache",
                         online=False)
    best = result.chunks[0]
    assert (best.source, best.path) == ("workspace", "src/train.py")
    assert (best.start_line, best.end_line) == (6, 9)
    assert best.text.startswith("# Warmup matters") and best.text.rstrip().endswith("lr=lr)")
    found_paths = {c.path for c in result.chunks}
    assert found_paths <= {"src/train.py", "README.md", "notes.txt"}
    assert result.notes == []


def test_decorated_function_and_class_are_whole_chunks(workspace: Path, tmp_path: Path):
    result = search_code("evaluate accuracy", workspace=workspace, sources=[], cache_dir=tmp_path / "c", online=False)
    assert (result.chunks[0].start_line, result.chunks[0].end_line) == (12, 17)
    result = search_code("ResidualBlock forward", workspace=workspace, sources=[], cache_dir=tmp_path / "c", online=False)
    assert (result.chunks[0].start_line, result.chunks[0].end_line) == (20, 26)


def test_text_files_are_windowed(workspace: Path, tmp_path: Path):
    result = search_code("gradient clipping", workspace=workspace, sources=[], cache_dir=tmp_path / "c", online=False)
    assert (result.chunks[0].path, result.chunks[0].start_line, result.chunks[0].end_line) == ("notes.txt", 61, 120)
    assert chunk_file("\n".join(["x"] * 130), is_python=False)[-1][:2] == (121, 130)
    assert chunk_file("def broken(:\n" + "pass\n" * 70, is_python=True)[0][:2] == (1, 60)


def test_local_git_repository_source(workspace: Path, prototype_repo: Path, tmp_path: Path):
    result = search_code("contrastive loss temperature", workspace=workspace, sources=[str(prototype_repo)],
                         cache_dir=tmp_path / "cache", online=False)
    best = result.chunks[0]
    assert (best.source, best.path, best.start_line, best.end_line) == (str(prototype_repo), "losses.py", 4, 7)
    assert "InfoNCE" in best.text


def test_changed_file_is_searched_afresh(workspace: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    assert search_code("label smoothing", workspace=workspace, sources=[], cache_dir=cache, online=False).chunks == []
    (workspace / "src" / "smooth.py").write_text("def label_smoothing(targets, eps=0.1):\n    return targets * (1 - eps)\n")
    result = search_code("label smoothing", workspace=workspace, sources=[], cache_dir=cache, online=False)
    assert [c.path for c in result.chunks] == ["src/smooth.py"]
    (workspace / "src" / "smooth.py").unlink()
    assert search_code("label smoothing", workspace=workspace, sources=[], cache_dir=cache, online=False).chunks == []


def test_repository_url_cloned_online_and_skipped_offline(workspace: Path, prototype_repo: Path, tmp_path: Path):
    url = prototype_repo.as_uri()
    cache = tmp_path / "cache"
    offline = search_code("contrastive loss", workspace=workspace, sources=[url], cache_dir=cache, online=False)
    assert offline.chunks == []
    assert offline.notes == [f"prototype repository {url} skipped: offline mode and not cloned before"]

    progress: list[str] = []
    online = search_code("contrastive loss", workspace=workspace, sources=[url], cache_dir=cache, online=True,
                         report=progress.append)
    assert (online.chunks[0].source, online.chunks[0].path) == (url, "losses.py")
    assert f"Cloning {url}" in progress

    reused = search_code("contrastive loss", workspace=workspace, sources=[url], cache_dir=cache, online=False)
    assert reused.notes == [] and reused.chunks[0].source == url


def test_unusable_sources_become_notes(workspace: Path, tmp_path: Path):
    missing = tmp_path / "nope"
    result = search_code("optimizer", workspace=workspace, sources=[str(missing), "file:///does/not/exist.git"],
                         cache_dir=tmp_path / "cache", online=True)
    assert result.notes[0] == f"prototype folder {missing} skipped: {missing} is not a folder"
    assert result.notes[1].startswith("prototype repository file:///does/not/exist.git skipped: could not clone it (")
    assert result.chunks[0].path == "src/train.py"
