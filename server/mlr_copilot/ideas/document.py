"""The hypotheses document, `research/<paper-slug>/hypotheses.md`: a view of the state in
`.mlr/`, re-rendered after every decision.

Each hypothesis starts at a marker line `<!-- mlr:hypothesis ID -->`, where the editor puts
its Accept / Reject / Refine lenses. In an editor without an input box, a line starting with
`Feedback:` written under a hypothesis is its refinement feedback; such lines survive
re-rendering until a refinement consumes them. The document is kept out of git (its folder
ignores it) so that decisions never dirty the working tree the agent commits to.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..untrusted import one_line
from .model import CitedWork, Hypothesis, IdeasRun

MARKER = re.compile(r"^<!-- mlr:hypothesis (\S+) -->\s*$")
FEEDBACK = re.compile(r"^\s*(?:>\s*)?feedback:\s*(.+?)\s*$", re.IGNORECASE)
STATUS_BADGE = {"proposed": "proposed", "accepted": "ACCEPTED", "rejected": "rejected"}


def document_path(workspace: Path, paper_slug: str) -> Path:
    return workspace / "research" / paper_slug / "hypotheses.md"


def pending_feedback(text: str) -> dict[str, list[str]]:
    """Feedback lines the researcher wrote, by hypothesis id."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        marker = MARKER.match(line)
        if marker:
            current = marker.group(1)
            continue
        feedback = FEEDBACK.match(line)
        if current and feedback:
            found.setdefault(current, []).append(feedback.group(1))
    return found


def feedback_for(text: str, hypothesis_id: str) -> str:
    """The pending feedback of one hypothesis as one text; empty when there is none."""
    return "\n".join(pending_feedback(text).get(hypothesis_id, [])).strip()


def marker_lines(text: str) -> list[tuple[str, int]]:
    """(hypothesis id, 0-based line) of every marker."""
    return [(m.group(1), n) for n, line in enumerate(text.splitlines()) if (m := MARKER.match(line))]


def _score_line(h: Hypothesis) -> str:
    if not h.scores:
        return ""
    parts = ", ".join(f"{k.replace('_', ' ')} {v:g}/10" for k, v in h.scores.items())
    return f"**Scores:** {parts} (total {h.score:g}). {h.reasons}".rstrip()


def _citation(c: CitedWork) -> str:
    unknown = "" if c.retrieved else " (not among the retrieved works)"
    return f"- {c.title} [{c.source}: {c.work_id}]{unknown}" + (f": {c.how}" if c.how else "")


def _hypothesis(h: Hypothesis, feedback: list[str]) -> list[str]:
    plan = h.plan
    lines = [
        f"<!-- mlr:hypothesis {h.id} -->",
        f"## {h.rank}. {h.title}",
        "",
        f"`{h.id}` · status: **{STATUS_BADGE[h.status]}**" + (f" · branch `{h.branch}`" if h.status == "accepted" else ""),
        "",
        f"**Problem.** {h.problem}",
        "",
        f"**Method.** {h.method}",
        "",
        f"**Rationale.** {h.rationale}",
        "",
        "**Experiment plan**",
        "",
        f"- Dataset: {plan.dataset}",
        f"- Model: {plan.model}",
        f"- Baseline: {plan.baseline}",
        f"- Metric: {plan.metric} ({plan.direction})",
        f"- Expected improvement: {plan.expected_improvement}",
    ]
    if plan.command:
        lines.append(f"- Command: `{plan.command}`")
    lines.append("- Steps:")
    lines += [f"  {n}. {step}" for n, step in enumerate(plan.steps, start=1)]
    lines += ["", "**Related work**", ""]
    if h.related:
        lines += [_citation(c) for c in h.related]
    else:
        lines.append("- none cited")
    lines += ["", f"**Novelty.** Closest work: {h.closest_work}. {h.novelty_note}".rstrip()]
    score = _score_line(h)
    if score:
        lines += ["", score]
    decided = [d for d in h.history if d.note]
    if decided or h.feedback:
        lines += ["", "**History**", ""]
        lines += [f"- {d.at:%Y-%m-%d %H:%M} {d.status}: {d.note}" for d in decided]
    if feedback:
        lines.append("")
        lines += [f"Feedback: {text}" for text in feedback]
    lines.append("")
    return lines


def _inline(value: object) -> object:
    """Every string on one line with its control characters visible: a line break in a title
    or a plan step written by the LLM could otherwise forge a marker or a `Feedback:` line."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, list):
        return [_inline(item) for item in value]
    if isinstance(value, dict):
        return {key: _inline(item) for key, item in value.items()}
    return value


def render(run: IdeasRun, feedback: dict[str, list[str]] | None = None) -> str:
    feedback = feedback or {}
    run = IdeasRun.model_validate(_inline(run.model_dump()))
    lines = [
        f"# Hypotheses: {run.paper_title}",
        "",
        f"From `{run.paper_path}`. Ranked by the sum of the novelty, feasibility and expected-gain scores.",
        "Use the lenses above each hypothesis to accept, reject or refine it; in an editor without",
        "lenses, run `mlr-copilot accept|reject|refine ID`, or write a line starting with `Feedback:`",
        "under a hypothesis and refine it.",
        "",
    ]
    if run.analysis:
        lines += ["**Research task.** " + run.analysis.task, "", "**Gaps**", ""]
        lines += [f"- {gap}" for gap in run.analysis.gaps]
        lines += ["", "**Keywords:** " + ", ".join(run.analysis.keywords), ""]
    if run.notes:
        lines += ["**Notes**", ""] + [f"- {note}" for note in run.notes] + [""]
    for hypothesis in sorted(run.hypotheses, key=lambda h: h.rank):
        lines += _hypothesis(hypothesis, feedback.get(hypothesis.id, []))
    return "\n".join(lines)


IGNORE_HEADER = "# views of .mlr/ideas, re-rendered by MLR-Copilot"
# The file ignores itself too, so `git status` stays quiet about research/, while any file of
# the researcher's own there still shows (a `*` would hide their notes from git).
IGNORE_TEXT = f"{IGNORE_HEADER}\n*/hypotheses.md\n/.gitignore\n"


def _ignore_views(ignore: Path) -> None:
    """Write research/.gitignore, or add the self-ignoring line to one an older version
    wrote; a file the researcher wrote stays as it is."""
    try:
        text = ignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        ignore.write_text(IGNORE_TEXT, encoding="utf-8")
        return
    lines = text.splitlines()
    if lines[:1] == [IGNORE_HEADER] and "/.gitignore" not in lines:
        ignore.write_text(text.rstrip("\n") + "\n/.gitignore\n", encoding="utf-8")


def write(workspace: Path, run: IdeasRun, consumed: frozenset[str] | set[str] = frozenset()) -> Path:
    """Render `run` to its document, keeping the feedback lines not yet consumed."""
    path = document_path(workspace, run.paper_slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    _ignore_views(path.parent.parent / ".gitignore")
    previous = pending_feedback(path.read_text(encoding="utf-8")) if path.exists() else {}
    kept = {k: v for k, v in previous.items() if k not in consumed}
    path.write_text(render(run, kept), encoding="utf-8")
    return path
