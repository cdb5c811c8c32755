"""What the search costs beyond the LLM and the experiment, and how much of its prompts a
provider's prefix cache can serve. Run by hand, prints figures.

    python bench/bench_search.py [--tasks a,b] [--nodes N] [--calls]

For each offline bundled task, in a fresh git copy with two hypotheses saved: a whole search
(`search.Search`) with the local runner and the scripted model, whose replies the bench
generates (two drafts that each add a small module, then improvements of the best node that
each add one more), one seeded re-run. Figures:

- overhead per node = (the search's wall time - the LLM's time - the runs' own `duration_s`)
  / nodes: the journal, the refs, the checkouts, the agents' prompts and the run machinery
  around each process. Split in three by where the time is spent: inside the operators (the
  agents, less the LLM's time), inside `run_node` (the run machinery, less the runs' own
  `duration_s`), and the rest, the search's own (journal, refs, policy, steering, the session's
  start and end), target < 50 ms; of that, the time in git processes the search's own code
  starts (and how many per node), against the floor of one bare `git rev-parse HEAD` here.
  The searches run with one run slot (`run.parallel` 1), so these times never overlap and the
  subtraction is exact; a first, untimed search imports what the others would find imported.
- prompt tokens per node (the accounting's estimate, four characters a token: tiktoken cannot
  fetch its encodings offline), per operator.
- cacheable share = the tokens of each prompt that are a prefix of an earlier call's prompt /
  all prompt tokens, each prompt taken as the provider receives it (the system part, then every
  message in order with its role; `llm.prefix_cache`). Target >= 90%. Beside it, the share two
  real caches would serve: OpenAI's automatic one (a shared prefix of at least 1024 tokens, in
  steps of 128) and Anthropic's on request (up to the `cache_control` marks the provider sends,
  an entry only where at least 1024 tokens precede a mark): the bundled tasks' prompts are
  small, so those minimums weigh more than they would on a real code base. No cache serves a
  search's first prompt: its share of the tokens bounds the figure (it weighs less the more
  nodes a search makes). With `--calls`, each prompt in the order sent: its length, how much of
  it an earlier one shares, and where it parts from them (the text to move later, if stable).

Then, on a toy task whose every run sleeps `--sleep` seconds, the time from the search's start
to the end of the run of the scripted best node (the node made by the third improvement reply,
which adds a large bonus; the later ones lose a little), with 1 and with 2 slots of the run queue (`run.parallel`): with two,
a node runs while the LLM proposes the next and two nodes run at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from mlr_copilot.config import SearchSettings  # noqa: E402
from mlr_copilot.engine import Engine  # noqa: E402
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun  # noqa: E402
from mlr_copilot.llm import prefix_cache  # noqa: E402
from mlr_copilot.llm.base import Completion, Message, estimate_tokens  # noqa: E402
from mlr_copilot.llm.prefix_cache import Shares  # noqa: E402
from mlr_copilot.llm.scripted import ScriptedProvider  # noqa: E402
from mlr_copilot.search import loop, measure, operators  # noqa: E402
from mlr_copilot.search.loop import Search  # noqa: E402
from mlr_copilot.taskfile import list_tasks  # noqa: E402
from mlr_copilot.work import Work  # noqa: E402

TARGET_MS = 50.0
TARGET_SHARE = 0.90
GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@localhost"]
# whose code runs now: "search" (set around a whole search), "runs" or "operators" (set inside
# those calls); tasks and `asyncio.to_thread` inherit it, a runner's own threads see None
BUCKET: contextvars.ContextVar[str | None] = contextvars.ContextVar("bucket", default=None)


class Calls:
    """Every prompt the scripted model is sent, with the time it took to answer; the time
    spent inside the operators (the agents, LLM included) and inside `run_node` (the runs with
    their machinery: checkout, runner, record, note); and the git processes started, and the
    time spent in them, by whose code started them."""

    def __init__(self) -> None:
        self.prompts: list[tuple[str, list[Message]]] = []
        self.seconds = 0.0
        self.spent: dict[str, float] = defaultdict(float)
        self.git_started: dict[str, int] = defaultdict(int)
        self.git_seconds: dict[str, float] = defaultdict(float)
        self.active: dict[str, int] = defaultdict(int)
        self.since: dict[str, float] = {}

    def clear(self) -> None:
        self.prompts, self.seconds = [], 0.0
        for counts in (self.spent, self.git_started, self.git_seconds):
            counts.clear()

    def time(self, module: Any, name: str, bucket: str) -> None:
        """The wall time during which at least one call of the bucket is in flight: the seeded
        re-runs go to the queue at once (`measure`), and their summed times would overlap."""
        inner = getattr(module, name)
        spent, active, since = self.spent, self.active, self.since

        async def timed(*args: Any, **kwargs: Any) -> Any:
            token = BUCKET.set(bucket)
            if active[bucket] == 0:
                since[bucket] = time.perf_counter()
            active[bucket] += 1
            try:
                return await inner(*args, **kwargs)
            finally:
                BUCKET.reset(token)
                active[bucket] -= 1
                if active[bucket] == 0:
                    spent[bucket] += time.perf_counter() - since[bucket]

        setattr(module, name, timed)

    def count_git(self) -> None:
        """Every git command the project runs goes through `subprocess.run` (`gitsafe`), and
        every process through `subprocess.Popen`, which `run` looks up when called."""
        calls, run = self, subprocess.run

        class Counted(subprocess.Popen):  # type: ignore[type-arg]
            def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
                bucket = BUCKET.get()
                if bucket is not None and _is_git(args):
                    calls.git_started[bucket] += 1
                super().__init__(args, *rest, **kwargs)

        def timed(args: Any, *rest: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return run(args, *rest, **kwargs)
            finally:
                bucket = BUCKET.get()
                if bucket is not None and _is_git(args):
                    calls.git_seconds[bucket] += time.perf_counter() - started

        subprocess.Popen = Counted  # type: ignore[misc]
        subprocess.run = timed

    def install(self) -> None:
        for module in (loop, measure):
            self.time(module, "run_node", "runs")
        for name in ("draft", "debug", "improve", "reflect"):
            self.time(operators, name, "operators")
        self.count_git()
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


def _is_git(args: Any) -> bool:
    return isinstance(args, (list, tuple)) and bool(args) and Path(str(args[0])).name == "git"


def git_floor(ws: Path, times: int = 20) -> float:
    """The median seconds of one bare `git rev-parse HEAD` in `ws`: what a git process costs
    here whatever runs it."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, check=True)
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


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
                              "run": {"runner": "local", "timeout": 120, "parallel": 1},
                              "search": {"initialDrafts": 2, "maxNodes": nodes, "seeds": 1, "reflectEvery": 0,
                                         "epsilon": 0.0}})
    save_hypotheses(engine)
    return engine


def save_hypotheses(engine: Engine) -> None:
    """Two accepted hypotheses, so the search asks no ideas call."""
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric="m", direction="maximize", steps=["s"],
                          expected_improvement="+10%")
    engine.ideas.store.save(IdeasRun(paper_path="task", paper_slug="task", paper_title="Task", analysis=Analysis(
        task="t", gaps=["g"], keywords=["k"]), hypotheses=[Hypothesis(
            id=f"h{n}", paper="task", rank=n, status="accepted", title=f"Idea {n}", problem="p", method="m",
            rationale="r", plan=plan) for n in (1, 2)]))


def bench(task_folder: Path, nodes: int, calls: Calls) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlr-bench-search-") as tmp:
        engine = prepare(task_folder, Path(tmp), nodes)
        floor = git_floor(engine.workspace)
        calls.clear()
        token = BUCKET.set("search")
        try:
            started = time.perf_counter()
            journal = asyncio.run(Search(engine, Work()).run())
            wall = time.perf_counter() - started
        finally:
            BUCKET.reset(token)
        experiment = sum(r.duration_s or 0.0 for r in engine.runs())
        made = len(journal.nodes)
        shares = prefix_cache.measure(calls.prompts)
        runs, agents = calls.spent["runs"], calls.spent["operators"]
        return {"task": task_folder.name, "status": journal.status, "nodes": made, "wall": wall,
                "experiment": experiment, "llm": calls.seconds,
                "overhead_ms": 1000 * (wall - experiment - calls.seconds) / max(made, 1),
                "search_ms": 1000 * (wall - runs - agents) / max(made, 1),
                "agents_ms": 1000 * (agents - calls.seconds) / max(made, 1),
                "machinery_ms": 1000 * (runs - experiment) / max(made, 1), "shares": shares,
                "git_ms": 1000 * calls.git_seconds["search"] / max(made, 1),
                "git_per_node": calls.git_started["search"] / max(made, 1),
                "git_by": {b: calls.git_started[b] / max(made, 1) for b in ("search", "operators", "runs")},
                "floor_ms": 1000 * floor,
                "first": calls.prompts[0][1] if calls.prompts else []}


def report(rows: list[dict[str, Any]], calls: bool = False) -> None:
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
    print("\nthe search's own per node: its Python vs the git processes it starts; git processes per node by "
          "whose code starts them; one bare `git rev-parse HEAD` here (median of 20)")
    for row in rows:
        by = row["git_by"]
        print(f"  {row['task']:<24} python {row['search_ms'] - row['git_ms']:6.1f} ms  git {row['git_ms']:6.1f} ms "
              f"({row['git_per_node']:.2f} processes)  git processes: search {by['search']:.2f} operators "
              f"{by['operators']:.1f} runs {by['runs']:.1f}  floor {row['floor_ms']:.1f} ms")
    worst = max(r["search_ms"] for r in rows)
    if calls:
        print("\neach prompt in the order sent: characters, the share an earlier prompt has of it, where it parts")
        for row in rows:
            for number, sent in enumerate(row["shares"].sent):
                print(f"  {row['task']:<24} {number:>3} {sent.call:<16} {sent.length:>7} {sent.shared / sent.length:>7.1%}  "
                      f"{sent.rest[:60]!r}")
    first = sum(estimate_tokens(prefix_cache.as_sent(r["first"]).text) for r in rows)
    print(f"\nthe search's own overhead per node: worst {worst:.1f} ms (target < {TARGET_MS:.0f} ms); "
          f"prompt tokens per node: {sum(everything.total.values()) / max(sum(r['nodes'] for r in rows), 1):.0f}; "
          f"cacheable share: {everything.share('prefix'):.1%} (target >= {TARGET_SHARE:.0%}; OpenAI's rule "
          f"{everything.share('openai'):.1%}, Anthropic's {everything.share('anthropic'):.1%}; each search's first "
          f"prompt, which no cache serves, is {first / max(sum(everything.total.values()), 1):.1%} of the tokens)")


TOY_TRAIN = """\
import glob
import json
import runpy
import time

time.sleep({sleep})
score = 0.5 + sum(runpy.run_path(path)["BONUS"] for path in sorted(glob.glob("step_*.py")))
json.dump({{"score": score}}, open("results.json", "w"))
print(f"METRIC score={{score}}")
"""
TOY_TASK = """\
name = "toy"
title = "A toy score"
kind = "offline"
description = "Raise the score."
command = "python train.py"

[metric]
name = "score"
direction = "maximize"
"""
BEST_REPLY = 3  # the improvement reply that makes the scripted best node


def toy_script(nodes: int) -> list[dict[str, Any]]:
    def step(number: int, bonus: float) -> str:
        return (f"SUMMARY: Add step {number}\nWHY: bench step {number}.\n\nstep_{number:02d}.py\n<<<<<<< FILE\n"
                f"BONUS = {bonus}\n>>>>>>> FILE\n")

    records: list[dict[str, Any]] = []
    for number in (1, 2):
        records += [{"call": "implement.step", "response": step(number, 0.01 * number)},
                    {"call": "implement.step", "response": f"DONE: draft {number}"}]
    # before it each improvement gains a little, after it each loses: it stays the best
    records += [{"call": "search.improve", "response": step(n + 2, 0.3 if n == BEST_REPLY else 0.01 if n < BEST_REPLY
                                                             else -0.05)} for n in range(1, nodes - 1)]
    return records


def time_to_best(slots: int, nodes: int, sleep: float) -> dict[str, Any]:
    """One search of the toy task with `slots` runs at once: when the scripted best node's
    run ended, counted from the search's start."""
    with tempfile.TemporaryDirectory(prefix="mlr-bench-slots-") as tmp:
        ws = Path(tmp) / "toy"
        ws.mkdir()
        (ws / "train.py").write_text(TOY_TRAIN.format(sleep=sleep))
        (ws / "task.toml").write_text(TOY_TASK)
        (ws / ".gitignore").write_text("results.json\n__pycache__/\n")
        for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"], ["commit", "-q", "-m", "baseline"]):
            subprocess.run([*GIT, *args], cwd=ws, check=True)
        path = Path(tmp) / "toy.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in toy_script(nodes)))
        engine = Engine.load(ws, {"llm": {"provider": "scripted", "script": str(path)}, "ideas": {"online": False},
                                  "run": {"runner": "local", "timeout": 120, "parallel": slots},
                                  "search": {"initialDrafts": 2, "maxNodes": nodes, "seeds": 1, "reflectEvery": 0,
                                             "epsilon": 0.0}})
        save_hypotheses(engine)
        started = datetime.now(timezone.utc)
        journal = asyncio.run(Search(engine, Work()).run())
        wall = (datetime.now(timezone.utc) - started).total_seconds()
        best = journal.best()
        assert best is not None and best.summary == f"Add step {BEST_REPLY + 2}", (journal.status, journal.message)
        record = engine.run_record(best.runs[-1])
        ended = datetime.fromisoformat(record.started_at) + timedelta(seconds=record.duration_s or 0.0)
        return {"slots": slots, "nodes": len(journal.nodes), "best": best.id, "value": best.value,
                "to_best": (ended - started).total_seconds(), "wall": wall}


def slots_report(nodes: int, sleep: float) -> None:
    rows = [time_to_best(slots, nodes, sleep) for slots in (1, 2)]
    print(f"\ntime to the scripted best node (toy task, {nodes} nodes, each run sleeps {sleep:g} s; "
          "wall includes the baseline and the seeded re-runs)")
    print(f"{'slots':>5} {'best':>5} {'score':>6} {'to best s':>10} {'wall s':>7}")
    for row in rows:
        print(f"{row['slots']:>5} {row['best']:>5} {row['value']:>6.2f} {row['to_best']:>10.2f} {row['wall']:>7.2f}")
    print(f"2 slots reach it in {rows[1]['to_best'] / rows[0]['to_best']:.0%} of the time 1 slot takes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", help="comma-separated bundled task names (default: every offline task)")
    # a search as users get it: the setting's own default node budget (search.maxNodes)
    parser.add_argument("--nodes", type=int, default=SearchSettings.model_fields["max_nodes"].default)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds each toy run sleeps (time to best)")
    parser.add_argument("--calls", action="store_true", help="each prompt's share and where it parts from the earlier ones")
    args = parser.parse_args()
    wanted = [t for t in (args.tasks or "").split(",") if t]
    tasks = [t for t in list_tasks(ROOT / "workspaces") if t.kind == "offline" and (not wanted or t.name in wanted)]
    calls = Calls()
    calls.install()
    cold = bench(tasks[0].folder, 3, calls)  # the imports a search makes on first use, not counted below
    print(f"(an untimed first search of {tasks[0].name}, 3 nodes: the search's own {cold['search_ms']:.1f} ms per node, "
          "imports included)\n")
    report([bench(task.folder, args.nodes, calls) for task in tasks], args.calls)
    slots_report(args.nodes, args.sleep)


if __name__ == "__main__":
    main()
