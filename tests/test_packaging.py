"""A plain (non-editable) wheel carries the prompts and the bundled tasks, and its console
script works from a fresh virtual environment's point of view."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_prompts_and_tasks(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, text=True)
    wheel = next(tmp_path.glob("mlr_copilot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in (ROOT / "prompts").glob("*.md"):
        assert f"mlr_copilot/prompts/{prompt.name}" in names
    assert "mlr_copilot/workspaces/review-sentiment/task.toml" in names
    assert "mlr_copilot/workspaces/review-sentiment/paper.pdf" in names
    assert "mlr_copilot/workspaces/demo/script.jsonl" in names
    assert "mlr_copilot/lsp/server.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mlr-copilot = mlr_copilot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any("__pycache__" in n or n.endswith("results.json") for n in names)


def test_every_prompt_loads_with_named_fields():
    from mlr_copilot import prompts

    names = prompts.available()
    assert {"ideas_analyse", "ideas_generate", "ideas_assess", "ideas_refine", "implement_step", "experiment_fix"} <= set(names)
    for name in names:
        template = prompts.load(name)
        assert template.fields, name


def test_a_missing_prompt_field_is_an_error():
    import pytest

    from mlr_copilot import prompts

    with pytest.raises(prompts.PromptError, match="needs the field"):
        prompts.load("ideas_analyse").render(title="t")
    with pytest.raises(prompts.PromptError, match="has no field"):
        prompts.load("ideas_analyse").render(title="t", digest="d", schema="s", extra="x")


def test_change_prompts_share_their_opening_and_mark_their_stable_parts():
    from mlr_copilot import prompts

    values = {"results_file": "results.json", "files": "## train.py\n---cache---\n", "task": "Raise the score."}
    opening = None
    for name, extra in (("implement_step", ["hypothesis_id", "title", "problem", "method", "plan", "prototypes",
                                            "candidates", "repo_map", "map_changes", "files_since", "history", "step",
                                            "max_steps"]),
                        ("experiment_fix", ["files_involved", "run_id", "command", "commit", "status", "message",
                                            "failures", "log_tail", "attempts"]),
                        ("search_improve", ["files_changed", "node", "operator", "commit", "path", "result", "tried",
                                            "instruction"])):
        system, user = prompts.messages(name, **values, **{field: f"<{field}>" for field in extra})
        # a field's value never cuts the prompt: the marks come from the template's own lines
        head = (system.content, user.content[: user.breaks[0]])
        assert head[1].endswith("Raise the score.\n\n") and "## train.py\n---cache---\n" in head[1]
        assert opening in (None, head)
        opening = head
        assert "---cache---" not in user.content.replace("## train.py\n---cache---\n", "")
        assert all(0 < a < b < len(user.content) for a, b in zip(user.breaks, user.breaks[1:]))
    # the improve prompt ends with its node's own parts: nothing stable after them (the instruction's
    # section, given only when there is one, comes in the field)
    assert user.content.endswith("# What its siblings and children tried\n<tried><instruction>")
