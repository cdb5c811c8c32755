"""What the search costs beyond the LLM and the experiment, and how much of its prompts a
provider's prefix cache can serve. Run by hand, prints figures.

    python bench/bench_search.py [--tasks a,b] [--nodes N]

For each offline bundled task, in a fresh git copy with two hypotheses saved: a whole search
(`search.Search`) with the local runner and the scripted model, whose replies the bench
generates (two drafts that each add a small module, then improvements of the best node that
each add one more), one seeded re-run. Figures:

- overhead per node = (the search's wall time - the LLM's time - the runs' own `duration_s`)
  / nodes: the journal, the refs, the checkouts, the agents' prompts and the run machinery
  around each process. Target < 50 ms.
- prompt tokens per node (the accounting's estimate, four characters a token: tiktoken cannot
  fetch its encodings offline), per operator.
- cacheable share = the tokens of each prompt that are a prefix of an earlier call's prompt /
  all prompt tokens, each prompt taken as the provider receives it (the system part, then every
  message in order with its role; `llm.prefix_cache`). Target >= 90%. Beside it, the share two
  real caches would serve: OpenAI's automatic one (a shared prefix of at least 1024 tokens, in
  steps of 128) and Anthropic's on request (up to the `cache_control` marks the provider sends,
  an entry only where at least 1024 tokens precede a mark): the bundled tasks' prompts are
  small, so those minimums weigh more than they would on a real code base.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from mlr_copilot.engine import Engine  # noqa: E402
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun  # noqa: E402
from mlr_copilot.llm import prefix_cache  # noqa: E402
from mlr_copilot.llm.base import Completion, Message  # noqa: E402
from mlr_copilot.llm.prefix_cache import Shares  # noqa: E402
from mlr_copilot.llm.scripted import ScriptedProvider  # noqa: E402
from mlr_copilot.search import loop, measure, operators  # noqa: E402
from mlr_copilot.search.loop import Search  # noqa: E402
from mlr_copilot.taskfile import list_tasks  # noqa: E402
from mlr_copilot.work import Work  # noqa: E402

TARGET_MS = 50.0
TARGET_SHARE = 0.90
GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@localhost"]


class Calls:
    """Every prompt the scripted model is sent, with the time it took to answer; and the time
    spent inside the operators (the agents, LLM included) and inside `run_node` (the runs with
    their machinery: checkout, runner, record, note)."""

    def __init__(self) -> None:
        self.prompts: list[tuple[str, list[Message]]] = []
        self.seconds = 0.0
        self.spent: dict[str, float] = defaultdict(float)

    def time(self, module: Any, name: str, bucket: str) -> None:
        inner = getattr(module, name)
        spent = self.spent

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                spent[bucket] += time.perf_counter() - started

        setattr(module, name, timed)

    def install(self) -> None:
        for module in (loop, measure):
            self.time(module, "run_node", "runs")
        for name in ("draft", "debug", "improve", "reflect"):
            self.time(operators, name, "operators")
        complete = ScriptedProvider.complete
        calls = self

        async def timed(provider: ScriptedProvider, messages: Sequence[Message], **kwargs: Any) -> Completion:
            started = time.perf_counter()
            try:
                return await complete(provider, messages, **kwargs)
            finally:
                calls.seconds += time.perf_counter() - started
                calls.prompts.append((str(kwargs["call"]), list(messages)))

        ScriptedProvider.complete = timed  # type: ignore[method-assign]


def new_file(name: str, number: int) -> str:
    return (f"SUMMARY: Add {name}\nWHY: bench step {number}.\n\n{name}\n<<<<<<< FILE\n"
            f"# a step of the bench search\nSTEP = {number}\n>>>>>>> FILE\n")


def script(nodes: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number in (1, 2):
        records += [{"call": "implement.step", "response": new_file(f"search_draft_{number}.py", number)},
                    {"call": "implement.step", "response": f"DONE: draft {number}"}]
    records += [{"call": "search.improve", "response": new_file(f"search_step_{n:02d}.py", n)} for n in range(3, nodes + 1)]
    return records


def prepare(task_folder: Path, tmp: Path, nodes: int) -> Engine:
    ws = tmp / task_folder.name
    shutil.copytree(task_folder, ws)
    (ws / ".gitignore").write_text("results.json\npredictions.csv\n__pycache__/\n")
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"], ["commit", "-q", "-m", "baseline"]):
        subprocess.run([*GIT, *args], cwd=ws, check=True)
    path = tmp / f"{task_folder.name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in script(nodes)))
    engine = Engine.load(ws, {"llm": {"provider": "scripted", "script": str(path)}, "ideas": {"online": False},
                              "run": {"runner": "local", "timeout": 120},
                              "search": {"initialDrafts": 2, "maxNodes": nodes, "seeds": 1, "reflectEvery": 0,
                                         "epsilon": 0.0}})
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric="m", direction="maximize", steps=["s"],
                          expected_improvement="+10%")
    engine.ideas.store.save(IdeasRun(paper_path="task", paper_slug="task", paper_title="Task", analysis=Analysis(
        task="t", gaps=["g"], keywords=["k"]), hypotheses=[Hypothesis(
            id=f"h{n}", paper="task", rank=n, status="accepted", title=f"Idea {n}", problem="p", method="m",
            rationale="r", plan=plan) for n in (1, 2)]))
    return engine


def bench(task_folder: Path, nodes: int, calls: Calls) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlr-bench-search-") as tmp:
        engine = prepare(task_folder, Path(tmp), nodes)
        calls.prompts, calls.seconds = [], 0.0
        calls.spent.clear()
        started = time.perf_counter()
        journal = asyncio.run(Search(engine, Work()).run())
        wall = time.perf_counter() - started
        experiment = sum(r.duration_s or 0.0 for r in engine.runs())
        made = len(journal.nodes)
        shares = prefix_cache.measure(calls.prompts)
        runs, agents = calls.spent["runs"], calls.spent["operators"]
        return {"task": task_folder.name, "status": journal.status, "nodes": made, "wall": wall,
                "experiment": experiment, "llm": calls.seconds,
                "overhead_ms": 1000 * (wall - experiment - calls.seconds) / max(made, 1),
                "search_ms": 1000 * (wall - runs - agents) / max(made, 1),
                "agents_ms": 1000 * (agents - calls.seconds) / max(made, 1),
                "machinery_ms": 1000 * (runs - experiment) / max(made, 1), "shares": shares}


def report(rows: list[dict[str, Any]]) -> None:
    print(f"{'task':<24} {'nodes':>5} {'wall s':>7} {'runs s':>7} {'llm s':>6} {'overhead/node':>14} "
          f"{'prompt tok/node':>16} {'cacheable':>9} {'openai':>7} {'anthropic':>9}")
    everything = Shares()
    for row in rows:
        shares: Shares = row["shares"]
        for call, total in shares.total.items():
            everything.total[call] += total
            for rule, cached in shares.cached.items():
                everything.cached[rule][call] += cached[call]
        print(f"{row['task']:<24} {row['nodes']:>5} {row['wall']:>7.2f} {row['experiment']:>7.2f} {row['llm']:>6.3f} "
              f"{row['overhead_ms']:>11.1f} ms {sum(shares.total.values()) / max(row['nodes'], 1):>16.0f} "
              f"{shares.share('prefix'):>9.1%} {shares.share('openai'):>7.1%} {shares.share('anthropic'):>9.1%}")
    print("\nper operator call (all tasks): prompt tokens, cacheable share (any prefix; OpenAI's rule; Anthropic's rule)")
    for call, total in sorted(everything.total.items()):
        print(f"  {call:<16} {total:>8} {everything.share('prefix', call):>7.1%} {everything.share('openai', call):>7.1%} "
              f"{everything.share('anthropic', call):>7.1%}")
    print("\nper node, outside the LLM and the experiment: the search's own (journal, refs, policy, reports), "
          "the agents' (prompts, edits, commits), the run machinery's (checkout, runner, record, note)")
    for row in rows:
        print(f"  {row['task']:<24} search {row['search_ms']:7.1f} ms  agents {row['agents_ms']:7.1f} ms  "
              f"run machinery {row['machinery_ms']:7.1f} ms")
    worst = max(r["search_ms"] for r in rows)
    print(f"\nthe search's own overhead per node: worst {worst:.1f} ms (target < {TARGET_MS:.0f} ms); "
          f"cacheable share: {everything.share('prefix'):.1%} (target >= {TARGET_SHARE:.0%}; OpenAI's rule "
          f"{everything.share('openai'):.1%}, Anthropic's {everything.share('anthropic'):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", help="comma-separated bundled task names (default: every offline task)")
    parser.add_argument("--nodes", type=int, default=8)
    args = parser.parse_args()
    wanted = [t for t in (args.tasks or "").split(",") if t]
    tasks = [t for t in list_tasks(ROOT / "workspaces") if t.kind == "offline" and (not wanted or t.name in wanted)]
    calls = Calls()
    calls.install()
    report([bench(task.folder, args.nodes, calls) for task in tasks])


if __name__ == "__main__":
    main()
