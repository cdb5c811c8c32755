import json
from pathlib import Path

import pytest

from mlr_copilot.errors import MlrError
from mlr_copilot.plain import from_json, jsonable
from mlr_copilot.taskfile import (
    Task,
    TaskError,
    bundled_tasks_root,
    get_task,
    list_tasks,
    load_task,
)

VALID = """
name = "{name}"
title = "A task"
kind = "offline"
description = \"\"\"
  Predict things.
\"\"\"
command = "python train.py"
baseline_seconds = 2

[metric]
name = "accuracy"
direction = "maximize"
"""


def make(root: Path, folder: str, text: str) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    (path / "task.toml").write_text(text, encoding="utf-8")
    return path


def test_loads_fields_defaults_and_round_trips(tmp_path):
    task = load_task(make(tmp_path, "t", VALID.format(name="t")))
    assert task.name == "t"
    assert task.kind == "offline"
    assert task.description == "Predict things."
    assert task.metric.file == "results.json"
    assert task.metric.direction == "maximize"
    assert task.prepare is None and task.requirements == [] and task.paper_path is None
    assert task.folder == (tmp_path / "t").resolve()
    assert from_json(Task, json.loads(json.dumps(jsonable(task), default=str))) == task


def test_folder_without_task_toml(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskError, match="no task description") as caught:
        load_task(tmp_path / "empty")
    assert isinstance(caught.value, MlrError)
    assert str(tmp_path / "empty") in str(caught.value)


def test_missing_folder(tmp_path):
    with pytest.raises(TaskError, match="not a folder"):
        load_task(tmp_path / "nowhere")


def test_invalid_toml_names_the_file(tmp_path):
    folder = make(tmp_path, "bad", 'name = "x\ntitle = 3\n')
    with pytest.raises(TaskError, match="invalid TOML") as caught:
        load_task(folder)
    assert str(folder / "task.toml") in str(caught.value)


def test_missing_metric(tmp_path):
    text = VALID.format(name="m").split("[metric]")[0]
    with pytest.raises(TaskError, match=r"missing the \[metric\] table"):
        load_task(make(tmp_path, "m", text))


@pytest.mark.parametrize(
    ("old", "new", "fault"),
    [
        ('direction = "maximize"', 'direction = "up"', "metric.direction"),
        ('name = "accuracy"', "", "metric.name"),
        ('kind = "offline"', 'kind = "cloud"', "kind"),
        ('command = "python train.py"', "", "command"),
        ("baseline_seconds = 2", 'baseline_seconds = 2\ncolour = "red"', "colour"),
        ("baseline_seconds = 2", "baseline_seconds = -1", "baseline_seconds"),
    ],
)
def test_invalid_fields_are_named(tmp_path, old, new, fault):
    text = VALID.format(name="f").replace(old, new, 1)
    with pytest.raises(TaskError, match=fault):
        load_task(make(tmp_path, "f", text))


def test_download_task_needs_prepare(tmp_path):
    text = VALID.format(name="d").replace('kind = "offline"', 'kind = "download"')
    with pytest.raises(TaskError, match="needs 'prepare'"):
        load_task(make(tmp_path, "d", text))
    fixed = text.replace("baseline_seconds = 2", 'baseline_seconds = 2\nprepare = "python prepare.py"')
    assert load_task(make(tmp_path, "d2", fixed)).prepare == "python prepare.py"


def test_paper_must_exist(tmp_path):
    text = VALID.format(name="p").replace("baseline_seconds = 2", 'baseline_seconds = 2\npaper = "paper.pdf"')
    folder = make(tmp_path, "p", text)
    with pytest.raises(TaskError, match="paper 'paper.pdf'"):
        load_task(folder)
    (folder / "paper.pdf").write_bytes(b"%PDF-1.4\n")
    assert load_task(folder).paper_path == folder.resolve() / "paper.pdf"


def test_not_utf8(tmp_path):
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "task.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(TaskError, match="not UTF-8"):
        load_task(folder)


def test_list_skips_plain_folders_and_sorts(tmp_path):
    make(tmp_path, "zeta", VALID.format(name="b-task"))
    make(tmp_path, "alpha", VALID.format(name="a-task"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_text("x")
    assert [task.name for task in list_tasks(tmp_path)] == ["a-task", "b-task"]


def test_list_reports_a_broken_task(tmp_path):
    make(tmp_path, "good", VALID.format(name="good"))
    make(tmp_path, "broken", "name = [")
    with pytest.raises(TaskError, match="broken"):
        list_tasks(tmp_path)


def test_list_rejects_duplicate_names(tmp_path):
    make(tmp_path, "one", VALID.format(name="same"))
    make(tmp_path, "two", VALID.format(name="same"))
    with pytest.raises(TaskError, match="two tasks are named 'same'"):
        list_tasks(tmp_path)


def test_list_of_missing_root(tmp_path):
    with pytest.raises(TaskError, match="no such folder"):
        list_tasks(tmp_path / "nowhere")


def test_get_task_by_name(tmp_path):
    make(tmp_path, "x", VALID.format(name="x"))
    assert get_task("x", tmp_path).name == "x"
    with pytest.raises(TaskError, match=r"no task named 'y' \(known: x\)"):
        get_task("y", tmp_path)


def test_bundled_root_is_the_checkout_workspaces():
    root = bundled_tasks_root()
    assert root == Path(__file__).resolve().parents[2] / "workspaces"
    assert get_task("digits-classification").folder == root / "digits-classification"
    assert get_task("babylm").metric.direction == "minimize"


def test_blank_description_is_refused(tmp_path):
    text = VALID.format(name="b").replace("  Predict things.", "   ")
    with pytest.raises(TaskError, match="description"):
        load_task(make(tmp_path, "b", text))
