"""`mlr-copilot history` through the real CLI: every hypothesis branch by default, `--branch`
to filter, and the `--json`, `--csv` and `--md` shapes."""

from __future__ import annotations

import csv
import io
import json

from tests.history.test_history import branches  # noqa: F401  (the fixture)

from .test_cli import cli, no_traceback


def test_history_shows_every_branch_by_default_and_filters_with_branch(branches):  # noqa: F811
    repo, runs = branches
    shown = cli("history", "-w", str(repo))
    no_traceback(shown)
    assert shown.returncode == 0
    for name in ("mlr/h1-wider", "mlr/h2-deeper", runs["base"].id, runs["mlr/h2-deeper"].id):
        assert name in shown.stdout
    assert "accuracy" in shown.stdout and "f1" in shown.stdout
    one = cli("history", "--branch", "mlr/h2-deeper", "-w", str(repo))
    assert one.returncode == 0 and runs["mlr/h2-deeper"].id in one.stdout and runs["mlr/h1-wider"].id not in one.stdout


def test_history_json_keeps_its_fields_and_adds_branch_and_metrics(branches):  # noqa: F811
    repo, runs = branches
    data = json.loads(cli("history", "--json", "-w", str(repo)).stdout)
    assert {"branch", "metric", "direction", "baseline_run", "baseline_value", "rows", "branches", "metrics"} <= set(data)
    row = next(r for r in data["rows"] if r["run_id"] == runs["mlr/h1-wider"].id)
    old = {"commit", "short", "subject", "hypothesis", "run_id", "status", "value", "delta", "baseline", "dirty", "log_path"}
    assert old <= set(row) and row["value"] == 0.875 and row["metrics"] == {"accuracy": 0.875, "f1": 0.5}
    assert row["branch"] == "mlr/h1-wider"


def test_history_csv_and_md(branches):  # noqa: F811
    repo, runs = branches
    table = list(csv.DictReader(io.StringIO(cli("history", "--csv", "-w", str(repo)).stdout)))
    assert {row["run_id"] for row in table} == {record.id for record in runs.values()}
    md = cli("history", "--md", "-w", str(repo)).stdout
    assert "| commit | run | status | accuracy | f1 |" in md
    both = cli("history", "--csv", "--md", "-w", str(repo))
    assert both.returncode == 2 and "not allowed with" in both.stderr
