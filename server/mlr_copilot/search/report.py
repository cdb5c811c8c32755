"""The search's report: the best path, the seeded mean ± SE of the winner against the
baseline, the final evaluation, the tree and what was spent; every number names its node,
commit and run."""

from __future__ import annotations

from ..status import Spend
from ..untrusted import one_line
from .model import Journal, Measured, Node
from .steer import said

SUCCESS_THRESHOLD = 0.10


def _value(journal: Journal, node: Node) -> str:
    if node.status != "passed":
        return f"{node.status}" + (f" ({one_line(node.why)[:120]})" if node.why else "")
    delta = journal.delta(node)
    return f"{journal.metric}={node.value:.4g}" + (f" ({delta:+.1%})" if delta is not None else "")


def _node_line(journal: Journal, node: Node) -> str:
    runs = f" run {node.runs[-1]}" if node.runs else ""
    return (f"{node.id} {node.operator} of {node.parent or 'baseline'} at {node.commit[:8]}{runs}: "
            f"{_value(journal, node)} | {one_line(node.summary)[:80]}")


def _measured_line(journal: Journal, m: Measured) -> str:
    runs = ", ".join(f"seed {r.seed}: run {r.run} " + (f"{r.value:.4g}" if r.value is not None else "no metric")
                     for r in m.runs)
    mean = f"{m.mean:.4g}" if m.mean is not None else "n/a"
    se = f" ± {m.se:.2g}" if m.se is not None else ""
    where = f"node {m.node} " if m.node else ""
    return f"{m.label} ({where}at {m.commit[:8]}): {journal.metric} {mean}{se} over {len(m.runs)} seed(s) [{runs}]"


def seeded_means(journal: Journal) -> tuple[Measured, Measured] | None:
    """The baseline and the winner as re-run with seeds, once both were."""
    found = {m.label: m for m in journal.measured}
    base, best = found.get("baseline"), found.get("best")
    return (base, best) if base is not None and best is not None else None


def seeded_delta(journal: Journal) -> float | None:
    """The winner's seeded mean over the baseline's, as a share in the metric's direction."""
    pair = seeded_means(journal)
    return journal.objective.delta(pair[1].mean, pair[0].mean) if pair else None


def verdict(journal: Journal) -> str:
    if seeded_means(journal) is None:
        return "Not measured with seeds."
    delta = seeded_delta(journal)
    if delta is None:
        return "The seeded means cannot be compared."
    judged = "beats" if delta >= SUCCESS_THRESHOLD else "does not beat"
    return f"Seeded means: {delta:+.1%} vs baseline; {judged} the baseline by 10%."


def _spent(usage: Spend) -> str:
    """The LLM's tokens and dollars, with the prompt tokens its prefix cache served (and, at
    Anthropic, wrote) and what that saved where the provider prices cached input."""
    cache = [f"{usage.cached_input_tokens} cached"] if usage.cached_input_tokens else []
    cache += [f"{usage.cache_write_tokens} written to the cache"] if usage.cache_write_tokens else []
    text = f"{usage.input_tokens} input ({', '.join(cache)})" if cache else f"{usage.input_tokens} input"
    text += f" + {usage.output_tokens} output tokens"
    if usage.cost_usd:
        text += f", ${usage.cost_usd:.4f}"
    if usage.saved_usd:
        text += f" (the cache {'saved' if usage.saved_usd > 0 else 'cost'} ${abs(usage.saved_usd):.4f})"
    return text


def render(journal: Journal) -> str:
    lines = [f"Search {journal.session} on {journal.metric} ({journal.direction}); baseline "
             f"{journal.baseline_value if journal.baseline_value is not None else 'n/a'} "
             f"(run {journal.baseline_run or 'none'} at {journal.base_commit[:8]})"]
    best = journal.best()
    if best is not None:
        lines.append("Best path: " + " -> ".join(f"{n.id} ({n.operator})" for n in journal.path_to(best)))
        lines += [f"  {_node_line(journal, n)}" for n in journal.path_to(best)]
    lines += [_measured_line(journal, m) for m in journal.measured]
    lines.append(verdict(journal))
    if journal.final is not None:
        f = journal.final
        lines.append(f"Final evaluation (once, node {journal.final_node} at {(f.commit or '?')[:8]}, run {f.run}): "
                     + (f"{journal.metric}={f.value:.4g}" if f.value is not None else "no metric"))
    lines += [f"Promoted: {said(p)}" for p in journal.promotions]
    lines.append(f"Tree ({len(journal.nodes)} nodes):")
    lines += [f"  {_node_line(journal, n)}" for n in journal.nodes]
    lines.append(f"Spent: {_spent(journal.usage)}; experiments {journal.compute_s():.1f}s; wall {journal.elapsed_s:.1f}s")
    lines.append(f"Status: {journal.status}" + (f" ({journal.message})" if journal.message else ""))
    return "\n".join(lines)
