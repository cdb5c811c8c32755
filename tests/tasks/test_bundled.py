import importlib
import json
import math
import re
import shlex
import sys

import pytest

from mlr_copilot.taskfile import bundled_tasks_root, list_tasks

from .helpers import copy_task, run, tree
from .synthetic import MAKERS

TASKS = {task.name: task for task in list_tasks(bundled_tasks_root())}
OFFLINE = sorted(name for name, task in TASKS.items() if task.kind == "offline")
DOWNLOAD = sorted(name for name, task in TASKS.items() if task.kind == "download")
EXPECTED_DOWNLOAD = {
    "imdb-sentiment": ("accuracy", "maximize"),
    "cifar10": ("accuracy", "maximize"),
    "ellipse-scoring": ("mcrmse", "minimize"),
    "babylm": ("perplexity", "minimize"),
    "semrel-2024": ("spearman", "maximize"),
}


# One ordinary change per offline task, each the first thing a researcher would try.
SENSIBLE_CHANGES = {
    "digits-classification": ("return images.reshape(-1, 8, 8).sum(axis=2)", "return images"),
    "diabetes-regression": ("DecisionTreeRegressor(random_state=SEED)", "DecisionTreeRegressor(random_state=SEED, max_depth=2)"),
    "review-sentiment": ("CountVectorizer(binary=True)", "CountVectorizer(binary=True, ngram_range=(1, 2))"),
}


def metric_lines(stdout: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"^METRIC (\w+)=(\S+)$", stdout, flags=re.M)}


def test_the_bundle_has_the_promised_tasks():
    assert len(OFFLINE) >= 3
    for name, (metric, direction) in EXPECTED_DOWNLOAD.items():
        assert TASKS[name].kind == "download"
        assert (TASKS[name].metric.name, TASKS[name].metric.direction) == (metric, direction)
    offline_metrics = {TASKS[name].metric.name for name in OFFLINE}
    assert {"accuracy", "rmse", "macro_f1"} <= offline_metrics


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_names_existing_files(name):
    task = TASKS[name]
    assert task.folder.name == name
    assert task.description and task.title and task.baseline_seconds
    assert (task.folder / "README.md").is_file()
    if name in SENSIBLE_CHANGES or name in EXPECTED_DOWNLOAD:
        assert (task.folder / "evaluate.py").is_file()
    script = shlex.split(task.command)[1]
    assert (task.folder / script).is_file()
    if task.kind == "download":
        assert (task.folder / shlex.split(task.prepare)[1]).is_file()
    else:
        assert task.prepare is None
    if task.paper:
        assert task.paper_path.is_file()


BAD_PREDICTIONS = [
    ("label\n1\n", "header"),
    ("id,{column}\nseven,1\n", "line 2"),
    ("id,{column}\n0,{value}\n0,{value}\n", "appears twice"),
    ("id,{column}\n0,{value}\n", "have no prediction"),
    ("id,{column}\n999999,{value}\n", "outside"),
]
GOOD_VALUE = {"review-sentiment": ("label", "positive"), "diabetes-regression": ("prediction", "1.5")}


@pytest.fixture
def task_module(monkeypatch):
    """Imports a module of a task folder in this process, as train.py would."""
    loaded = []

    def load(folder, module):
        monkeypatch.syspath_prepend(str(folder))
        for name in ("evaluate", "corpus"):
            sys.modules.pop(name, None)
        loaded.append(importlib.import_module(module))
        return loaded[-1]

    yield load
    for name in ("evaluate", "corpus"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("name", sorted(SENSIBLE_CHANGES))
def test_offline_evaluation_rejects_bad_predictions(name, tmp_path, task_module):
    folder = copy_task(TASKS[name], tmp_path)
    evaluate = task_module(folder, "evaluate")
    column, value = GOOD_VALUE.get(name, ("label", "1"))
    for content, message in BAD_PREDICTIONS:
        path = tmp_path / "predictions.csv"
        path.write_text(content.format(column=column, value=value))
        with pytest.raises(evaluate.EvaluationError, match=message):
            evaluate.score(path)


@pytest.mark.parametrize("name", sorted(SENSIBLE_CHANGES))
def test_offline_evaluation_script_exits_nonzero_with_a_message(name, tmp_path):
    folder = copy_task(TASKS[name], tmp_path)
    column, _ = GOOD_VALUE.get(name, ("label", "1"))
    (folder / "predictions.csv").write_text(f"id,{column}\nseven,1\n")
    bad = run(folder, "python evaluate.py predictions.csv")
    missing = run(folder, "python evaluate.py nowhere.csv")
    for result, message in ((bad, "line 2"), (missing, "no such predictions file")):
        assert result.returncode != 0
        assert "cannot score" in result.stderr and message in result.stderr
        assert "Traceback" not in result.stderr
    assert not (folder / "results.json").exists()


@pytest.mark.parametrize("name", DOWNLOAD)
def test_prepare_offline_fails_clearly_and_writes_nothing(name, tmp_path):
    task = TASKS[name]
    folder = copy_task(task, tmp_path)
    before = tree(folder)
    result = run(folder, task.prepare)
    assert result.returncode != 0
    assert "put the files in data/" in result.stderr
    assert "this task needs its data downloaded once" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(folder) == before


@pytest.mark.parametrize("name", DOWNLOAD)
def test_train_without_data_names_the_missing_step(name, tmp_path):
    task = TASKS[name]
    folder = copy_task(task, tmp_path)
    result = run(folder, task.command)
    assert result.returncode != 0
    assert "data/" in result.stderr and "prepare.py" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "results.json").exists()


@pytest.mark.tasks
@pytest.mark.parametrize("name", DOWNLOAD)
def test_download_baseline_runs_on_data_of_the_documented_form(name, tmp_path):
    task = TASKS[name]
    needs = {"cifar10": "torch"}.get(name)
    if needs:  # CI installs a CPU torch (.ci/torch.sh): this skips only where a user has none
        pytest.importorskip(needs, reason=f"{name}'s baseline needs {needs}, not installed here (bash .ci/torch.sh installs it)")
    folder = copy_task(task, tmp_path)
    MAKERS[name](folder)
    prepared = run(folder, task.prepare)
    assert prepared.returncode == 0, prepared.stderr
    trained = run(folder, task.command, timeout=120)
    assert trained.returncode == 0, trained.stderr
    value = json.loads((folder / task.metric.file).read_text())[task.metric.name]
    assert math.isfinite(value)
    assert metric_lines(trained.stdout)[task.metric.name] == pytest.approx(value, abs=1e-6)

    (folder / "predictions.csv").write_text("id,nonsense\n")
    rejected = run(folder, "python evaluate.py predictions.csv")
    assert rejected.returncode != 0
    assert "cannot score" in rejected.stderr and "header" in rejected.stderr


def test_every_offline_task_has_a_known_change_so_its_baseline_is_tested():
    # the baseline test below runs only the tasks listed here: a new offline task must join it
    assert set(SENSIBLE_CHANGES) == set(OFFLINE)


@pytest.mark.tasks
@pytest.mark.parametrize("name", sorted(SENSIBLE_CHANGES))
def test_offline_baseline_is_deterministic_reports_its_metric_and_leaves_headroom(name, tmp_path):
    task = TASKS[name]
    folder = copy_task(task, tmp_path)
    first = run(folder, task.command, timeout=60)
    assert first.returncode == 0, first.stderr
    results = json.loads((folder / task.metric.file).read_text())
    before = results[task.metric.name]
    assert isinstance(before, float) and math.isfinite(before)
    assert metric_lines(first.stdout)[task.metric.name] == pytest.approx(before, abs=1e-6)

    second = run(folder, task.command, timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads((folder / task.metric.file).read_text()) == results, "the baseline is not deterministic"

    old, new = SENSIBLE_CHANGES[name]
    source = (folder / "train.py").read_text()
    assert source.count(old) == 1
    (folder / "train.py").write_text(source.replace(old, new))
    improved = run(folder, task.command, timeout=60)
    assert improved.returncode == 0, improved.stderr
    after = metric_lines(improved.stdout)[task.metric.name]
    gain = (after - before) if task.metric.direction == "maximize" else (before - after)
    assert gain / abs(before) >= 0.10, (before, after)
