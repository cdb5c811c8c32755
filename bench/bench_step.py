"""Time one agent step without the LLM: bring the workspace map up to date (as the agent does:
mapped in full once per run, then path by path from what each step committed), build the step's
prompt from the real template, parse and apply an edit, write it, commit it.

Workspaces: a small one (20 files) and a large one (2,000 files of Python and other text plus a
500 MB sparse data file that the map must never read), each in a git repository; edits touching
1 and 10 files. Target: under 50 ms per step, growing with the change, not with the workspace.
`prefix` is the share of each step's prompt that repeats the previous step's prompt from its
start: the part a provider's prompt cache can reuse.

    python bench/bench_step.py [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mlr_copilot import prompts
from mlr_copilot.experiment.edit_blocks import parse_edits
from mlr_copilot.experiment.edits import apply_edits, write_changes
from mlr_copilot.experiment.repomap import WorkspaceMap, repo_map
from mlr_copilot.workspace.git import GitWorkspace

PY_TEMPLATE = '''"""Module {i}."""
import math

STEP = 0


class Block{i}:
    def __init__(self, width):
        self.width = width

    def forward(self, x):
        return x * self.width


def helper_{i}(a, b=2):
    return math.sqrt(a * b)
'''

PHASES = ("repo_map", "prompt", "parse+apply", "write", "commit", "total")
# What the agent gathers once per implementation: a few prototype chunks and candidates.
PROTOTYPES = "\n".join(f"### workspace:pkg{i}/mod.py:1-15\n```\n{PY_TEMPLATE.format(i=i)}```" for i in range(5))
CANDIDATES = "\n".join(f"- model org/classifier-{i}, {100 * i} MB" for i in range(1, 9))


def build_workspace(root: Path, n_files: int, big_file: bool) -> None:
    root.mkdir(parents=True)
    for i in range(n_files):
        folder = root / f"pkg{i % 20}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 5 < 3:
            (folder / f"mod_{i}.py").write_text(PY_TEMPLATE.format(i=i))
        else:
            suffix = (".json", ".yaml", ".md")[i % 3]
            (folder / f"file_{i}{suffix}").write_text(f"entry {i}\n" * 20)
    identity = {f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER")
                for key, value in (("NAME", "Bench"), ("EMAIL", "bench@localhost"))}
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **identity})
    if big_file:
        (root / "data").mkdir()
        with open(root / "data" / "train.bin", "wb") as handle:
            handle.truncate(500 * 1024 * 1024)  # sparse: costs no disk, untracked, listed by the map


def edit_reply(targets: list[str], step: int) -> str:
    blocks = [
        f"{rel}\n```python\n<<<<<<< SEARCH\nSTEP = {step}\n=======\nSTEP = {step + 1}\n>>>>>>> REPLACE\n```\n"
        for rel in targets
    ]
    return "I will advance the step counter.\n\n" + "\n".join(blocks)


def cpu_ms() -> float:
    """CPU time of this process and its finished children (the git commands)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total * 1000


def shared_prefix(a: str, b: str) -> int:
    """How many leading characters two prompts share (what a provider's prompt cache reuses)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def step_prompt(root: Path, rmap, targets: list[str], step: int) -> str:
    files = "\n\n".join(f"## {rel}\n```\n{(root / rel).read_text()}\n```" for rel in targets)
    history = "\n".join(f"{n}. Advance the step counter [committed]" for n in range(1, step + 1)) or "(none yet)"
    messages = prompts.messages(
        "implement_step", results_file="results.json", hypothesis_id="h1", title="Advance the counter",
        problem="The counter lags.", method="Advance it every step.", plan="- Dataset: none\nSteps:\n1. advance",
        repo_map=rmap.render(6000), prototypes=PROTOTYPES, candidates=CANDIDATES, files=files, history=history,
        step=step + 1, max_steps=50,
    )
    return "\n".join(m.content for m in messages)


def one_step(ws: GitWorkspace, files: WorkspaceMap, root: Path, targets: list[str], step: int) -> tuple[dict[str, float], str]:
    times: dict[str, float] = {}
    c0 = cpu_ms()
    t0 = time.perf_counter()
    rmap = files.current()
    t1 = time.perf_counter()
    prompt = step_prompt(root, rmap, targets, step)
    t2 = time.perf_counter()
    changes = apply_edits(root, parse_edits(edit_reply(targets, step)))
    t3 = time.perf_counter()
    write_changes(root, changes)
    t4 = time.perf_counter()
    trailers = {"MLR-Hypothesis": "bench", "MLR-Step": str(step + 1)}
    ws.commit_paths([c.path for c in changes], f"Step {step + 1}", trailers)
    files.changed([c.path for c in changes], tracked=True)
    t5 = time.perf_counter()
    for name, (a, b) in zip(PHASES, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t0, t5)]):
        times[name] = (b - a) * 1000
    times["cpu"] = cpu_ms() - c0
    return times, prompt


def bench(label: str, n_files: int, big_file: bool, changed: int, steps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mlr-bench-") as tmp:
        root = Path(tmp) / "ws"
        build_workspace(root, n_files, big_file)
        ws = GitWorkspace(root)
        ws.ensure_repo()
        ws.checkout_branch("mlr/bench")
        pys = sorted(str(p.relative_to(root)) for p in root.rglob("mod_*.py"))
        targets = pys[:changed]
        t = time.perf_counter()
        cold = repo_map(root, large_file_bytes=1_000_000)
        cold_ms = (time.perf_counter() - t) * 1000
        files = WorkspaceMap(root)
        samples, prefix = [], []
        previous = ""
        for step in range(steps):
            times, prompt = one_step(ws, files, root, targets, step)
            samples.append(times)
            prefix.append(shared_prefix(previous, prompt) / len(prompt))
            previous = prompt
        row = " ".join(
            f"{statistics.median(s[name] for s in samples):8.1f}" for name in PHASES
        )
        p95 = sorted(s["total"] for s in samples)[int(0.95 * (len(samples) - 1))]
        cpu = statistics.median(s["cpu"] for s in samples)
        shared = statistics.median(prefix[1:])
        print(f"{label:<34} {len(cold.files):>6} {cold_ms:8.1f} {row} {p95:8.1f} {cpu:8.1f} {shared:7.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    header = " ".join(f"{name:>8}" for name in PHASES)
    print(f"median wall ms per step over {args.steps} steps; cold = first repo_map; p95 of total;")
    print("cpu = CPU ms of the step including its git processes (less sensitive to machine load)")
    print(f"{'workspace / change':<34} {'files':>6} {'cold':>8} {header} {'p95':>8} {'cpu':>8} {'prefix':>7}")
    bench("20 files, 1 file changed", 20, False, 1, args.steps)
    bench("20 files, 10 files changed", 20, False, 10, args.steps)
    bench("2000 files + 500 MB, 1 changed", 2000, True, 1, args.steps)
    bench("2000 files + 500 MB, 10 changed", 2000, True, 10, args.steps)


if __name__ == "__main__":
    main()
