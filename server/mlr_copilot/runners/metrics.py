"""Metrics a run reports: a results file (`{"name": number}` or `{"metrics": {...}}`) and
`METRIC name=value` lines in its output. The file wins where both name the same metric: it is
written once at the end, lines are often progress reports."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

from mlr_copilot.workspace.paths import read_regular

log = logging.getLogger(__name__)

# A results file holds a few numbers; one this large is something else.
MAX_RESULTS_BYTES = 16 * 1024 * 1024

METRIC_LINE = re.compile(
    r"^\s*METRIC\s+([A-Za-z_][\w./-]*)\s*[=:]\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|infinity))\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def metrics_from_log(text: str) -> dict[str, float]:
    """The last value of each `METRIC name=value` line."""
    found: dict[str, float] = {}
    for match in METRIC_LINE.finditer(text):
        found[match.group(1)] = float(match.group(2))
    return found


def metrics_from_file(path: Path) -> tuple[dict[str, float], str | None]:
    """Metrics in `path` and a problem description when the file exists but is unusable."""
    try:
        # the experiment writes it: a FIFO or a device there must not hang the run's end
        data = read_regular(path, MAX_RESULTS_BYTES + 1)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"could not read {path.name}: {exc.strerror}"
    if data is None or len(data) > MAX_RESULTS_BYTES:
        too_big = f"larger than {MAX_RESULTS_BYTES // (1024 * 1024)} MB"
        return {}, f"{path.name} is {'not a regular file' if data is None else too_big}; it was not read"
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return {}, f"{path.name} is not UTF-8 text"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg})"
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    if not isinstance(data, dict):
        return {}, f"{path.name} must hold an object of metric names to numbers"
    metrics = {}
    for key, value in data.items():
        number = _number(value)
        if number is not None:
            metrics[str(key)] = number
    return metrics, None


def collect_metrics(
    workspace: Path, results_file: str, log_metrics: dict[str, float], *, since: float | None = None
) -> tuple[dict[str, float], list[str]]:
    """All metrics of a run (its METRIC lines, then its results file) and the problems met
    reading them. A results file older than `since` (a timestamp) is left over from an earlier
    run and ignored."""
    metrics = dict(log_metrics)
    problems = []
    results = (workspace / results_file).resolve()
    if results.is_relative_to(workspace):
        try:
            stale = since is not None and results.stat().st_mtime < since
        except OSError:
            stale = False
        if stale:
            problems.append(f"{results_file} was not written by this run; ignored")
            return metrics, problems
        from_file, problem = metrics_from_file(results)
        metrics.update(from_file)
        if problem:
            problems.append(problem)
    else:
        problems.append(f"results file {results_file} is outside the workspace; ignored")
    return metrics, problems


def non_finite(metrics: dict[str, float]) -> list[str]:
    return [name for name, value in metrics.items() if not math.isfinite(value)]
