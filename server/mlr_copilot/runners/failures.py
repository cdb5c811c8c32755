"""Why a run failed, placed where the user can fix it: Python tracebacks become failures at
the workspace's own file and line; library frames are summarised into that failure's message.
Runs that die without a traceback (memory, time, signals, silent exits) and runs that end
without a usable metric get a failure too."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .base import RunOutcome
from .metrics import non_finite
from .model import Failure, RunRequest

CONTAINER_ROOT = "/workspace"
TRACEBACK_HEAD = "Traceback (most recent call last):"
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")
LIBRARY_MARKERS = ("site-packages", "dist-packages")
# Folders inside a workspace that hold other people's code.
VENDORED_PREFIXES = (".venv/", "venv/", ".tox/", ".mlr/", "env/lib/")
OOM_TYPES = {"MemoryError", "OutOfMemoryError", "torch.cuda.OutOfMemoryError", "torch.OutOfMemoryError"}
OOM_TEXT = ("CUDA out of memory", "out of memory", "CUBLAS_STATUS_ALLOC_FAILED")


@dataclass(frozen=True)
class Frame:
    raw_path: str
    line: int
    function: str | None
    workspace_path: str | None  # None for library, stdlib and synthetic frames


@dataclass(frozen=True)
class ParsedTraceback:
    frames: list[Frame]
    error_type: str
    message: str


def workspace_relative(raw: str, workspace: Path) -> str | None:
    """The workspace-relative POSIX path of a traceback file name, or None when the file is
    not the workspace's own code (a library, the standard library, `<string>`)."""
    if not raw or raw.startswith("<"):
        return None
    if raw == CONTAINER_ROOT or raw.startswith(CONTAINER_ROOT + "/"):
        rel = raw[len(CONTAINER_ROOT) + 1 :]
    elif os.path.isabs(raw):
        normal = os.path.normpath(raw)
        for root in {str(workspace), os.path.realpath(workspace)}:
            if normal.startswith(root + os.sep):
                rel = normal[len(root) + 1 :]
                break
        else:
            return None
    else:
        rel = os.path.normpath(raw)
        if rel.startswith(".."):
            return None
    rel = PurePosixPath(*Path(rel).parts).as_posix()
    if any(marker in rel.split("/") for marker in LIBRARY_MARKERS) or rel.startswith(VENDORED_PREFIXES):
        return None
    return rel


def library_name(raw: str) -> str:
    """A short name for a library frame: `torch/nn/functional.py` rather than the full path."""
    parts = raw.replace("\\", "/").split("/")
    for marker in LIBRARY_MARKERS:
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) :])
    for index, part in enumerate(parts):
        if re.fullmatch(r"python3(\.\d+)?", part) and index > 0 and parts[index - 1] in ("lib", "lib64"):
            return "/".join(parts[index + 1 :])
    return raw


def last_traceback(text: str, workspace: Path) -> ParsedTraceback | None:
    """The last traceback in `text`: with chained exceptions, the one that ended the run."""
    start = text.rfind(TRACEBACK_HEAD)
    if start < 0:
        return None
    lines = text[start:].splitlines()[1:]
    frames: list[Frame] = []
    for index, line in enumerate(lines):
        match = FRAME.match(line)
        if match:
            raw = match.group("path")
            frames.append(Frame(raw, int(match.group("line")), match.group("func"), workspace_relative(raw, workspace)))
            continue
        if line.startswith((" ", "\t")) or not line.strip():
            continue
        exc = EXCEPTION.match(line.strip())
        if exc:
            message = (exc.group("msg") or "").strip()
            # Multi-line messages continue until a blank line or a runner note.
            for extra in lines[index + 1 : index + 6]:
                if not extra.strip() or extra.startswith("[mlr-copilot"):
                    break
                message = f"{message} {extra.strip()}".strip()
            return ParsedTraceback(frames, exc.group("type"), message[:1000])
        return ParsedTraceback(frames, line.strip().split(":", 1)[0], line.strip()[:1000])
    return None


def _is_oom(parsed: ParsedTraceback) -> bool:
    return parsed.error_type in OOM_TYPES or parsed.error_type.endswith(".OutOfMemoryError") or any(
        text in parsed.message for text in OOM_TEXT
    )


def traceback_failure(parsed: ParsedTraceback) -> Failure:
    own = [frame for frame in parsed.frames if frame.workspace_path is not None]
    summary = f"{parsed.error_type}: {parsed.message}" if parsed.message else parsed.error_type
    innermost = parsed.frames[-1] if parsed.frames else None
    if innermost is not None and innermost.workspace_path is None:
        summary += f" (raised in {library_name(innermost.raw_path)}:{innermost.line})"
    at = own[-1] if own else None
    return Failure(
        path=at.workspace_path if at else None,
        line=at.line if at else None,
        kind="oom" if _is_oom(parsed) else "exception",
        error_type=parsed.error_type,
        message=summary,
    )


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("[mlr-copilot")]
    return " | ".join(line.strip()[:200] for line in lines[-count:])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def diagnose(
    outcome: RunOutcome,
    log_text: str,
    workspace: Path,
    request: RunRequest,
    metrics: dict[str, float],
    primary_metric: str | None,
) -> list[Failure]:
    """Every failure this run shows, most important first."""
    failures: list[Failure] = []
    status = outcome.status
    if status == "cancelled":
        return failures
    if status == "error":
        return [Failure(kind="exit", message=outcome.message or "the run could not start")]
    if status == "timeout":
        failures.append(Failure(kind="timeout", message=f"no result within the time limit of {request.timeout:g} s"))
    elif outcome.oom_killed:
        failures.append(
            Failure(kind="oom", message=f"killed by the kernel for using more than {request.memory_mb} MB of memory")
        )
    elif outcome.process_limit_hit:
        failures.append(Failure(kind="killed", message=outcome.message))
    elif status != "passed":
        failures.append(_exit_failure(outcome, log_text, workspace))
    if status == "passed":
        failures += _metric_failures(request, metrics, primary_metric)
    return failures


def _exit_failure(outcome: RunOutcome, log_text: str, workspace: Path) -> Failure:
    """Why a run that was not stopped by a limit ended badly: its traceback, else the signal
    that killed it, else its exit code and last words."""
    parsed = last_traceback(log_text, workspace)
    if parsed is not None:
        return traceback_failure(parsed)
    signal_number = outcome.signal
    # Inside a container a signal death shows as exit code 128 + signal number.
    if signal_number is None and outcome.exit_code is not None and 128 < outcome.exit_code < 160:
        signal_number = outcome.exit_code - 128
    if signal_number:
        return Failure(kind="killed", message=f"killed by {_signal_name(signal_number)} with no traceback")
    tail = _last_lines(log_text)
    return Failure(
        kind="exit",
        message=f"exited with code {outcome.exit_code} and printed no traceback"
        + (f"; last output: {tail}" if tail else "; it printed nothing"),
    )


def _metric_failures(request: RunRequest, metrics: dict[str, float], primary_metric: str | None) -> list[Failure]:
    """What is wrong with the metrics of a run that passed."""
    failures: list[Failure] = []
    if primary_metric and primary_metric not in metrics:
        failures.append(
            Failure(
                kind="no-metric",
                message=f"the run produced no value for metric '{primary_metric}' (write it to "
                f"{request.results_file} or print 'METRIC {primary_metric}=<value>')",
            )
        )
    elif not metrics:
        # No primary metric is known yet, but a run that reports nothing cannot be compared.
        failures.append(
            Failure(
                kind="no-metric",
                message=f"the run reported no metric; write them to {request.results_file} "
                "(as {\"name\": value}) or print lines 'METRIC name=<value>'",
            )
        )
    for name in non_finite(metrics):
        failures.append(Failure(kind="nan", message=f"metric '{name}' is {metrics[name]}"))
    return failures
