"""The history table as text for the terminal, CSV for spreadsheets and Markdown for notes;
the latest search's tree as indented text.

Subjects, hypothesis ids, branch and metric names come from commits and experiment output,
so they are untrusted: every cell is one line (`untrusted.one_line`), a CSV cell that a
spreadsheet would run as a formula starts with `'`, and a Markdown cell has its signs escaped.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..untrusted import markdown_inline, one_line

if TYPE_CHECKING:
    from .store import HistoryRow, HistoryTable
    from .tree import SearchTree, SearchTreeNode

# Metric columns the terminal table shows; CSV, Markdown and JSON hold every one.
TEXT_METRICS = 6
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _delta(row: HistoryRow) -> str:
    if row.baseline:
        return "baseline"
    return "-" if row.delta is None else f"{row.delta * 100:+.1f}%"


def _label(row: HistoryRow) -> str:
    return row.subject if not row.hypothesis else f"[{row.hypothesis}] {row.subject}"


def _title(table: HistoryTable) -> str:
    metric = table.metric or "metric"
    arrow = {"maximize": " (higher is better)", "minimize": " (lower is better)"}.get(table.direction or "", "")
    where = f"branch {table.branch or '-'}" if table.branch or not table.branches else f"branches {', '.join(table.branches)}"
    title = f"{where}; metric {metric}{arrow}"
    if table.baseline_run and table.baseline_value is not None:
        return title + f"; baseline run {table.baseline_run} = {table.baseline_value:.6g}"
    return title + "; no baseline yet (no passed run with this metric)"


def render_text(table: HistoryTable, *, width: int = 120) -> str:
    """A fixed-width table: the primary metric and its delta, then the other metrics (up to
    `TEXT_METRICS` columns in all), the branch when there are several, and the subject."""
    several = table.branch is None and len(table.branches) > 1
    metrics = (table.metrics or [table.metric or "metric"])[:TEXT_METRICS]
    header = ["commit", "run", "status", metrics[0], "delta", *metrics[1:], *(["branch"] if several else []),
              "hypothesis / subject"]
    body = []
    for row in table.rows:
        others = [_number(row.metrics.get(name)) for name in metrics[1:]]
        body.append([(row.short or "-") + ("*" if row.dirty else ""), row.run_id or "-", row.status or "no run",
                     _number(row.value), _delta(row), *others, *([row.branch or "(no branch)"] if several else []),
                     _label(row)])
    body = [[one_line(cell) for cell in line] for line in body]
    header = [one_line(cell) for cell in header]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header) - 1)]
    last = max(20, width - sum(widths) - 2 * len(widths))
    lines = [one_line(_title(table))]
    for line in [header, *body]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
        text = line[-1]
        cells.append(text if len(text) <= last else text[: last - 1] + "…")
        lines.append("  ".join(cells).rstrip())
    if len(table.metrics) > TEXT_METRICS:
        lines.append(f"{len(table.metrics) - TEXT_METRICS} more metric(s) in --csv, --md and --json")
    if any(row.dirty for row in table.rows):
        lines.append("* run on uncommitted changes")
    return "\n".join(lines)


_FIELDS = ("branch", "commit", "run_id", "status", "hypothesis", "subject", "baseline", "delta", "runner",
           "started_at", "duration_s", "dirty", "log_path")


def _cells(row: HistoryRow, metrics: list[str]) -> list[object]:
    return [getattr(row, name) for name in _FIELDS] + [row.metrics.get(name) for name in metrics]


def render_csv(table: HistoryTable) -> str:
    """One row per history row, every metric a column; empty cells for no value."""
    import csv  # only `history --csv` writes it: the terminal table starts faster without

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_csv_text(name) for name in (*_FIELDS, *table.metrics)])
    for row in table.rows:
        writer.writerow(["" if cell is None else cell if not isinstance(cell, str) else _csv_text(cell)
                         for cell in _cells(row, table.metrics)])
    return out.getvalue()


def _csv_text(text: str) -> str:
    text = one_line(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_md(table: HistoryTable) -> str:
    """A Markdown table under a one-line title, every metric a column."""
    header = ["commit", "run", "status", *table.metrics, "delta", "branch", "hypothesis / subject"]
    lines = [f"**{markdown_inline(one_line(_title(table)))}**", "", _md_line(header), _md_line(["---"] * len(header))]
    for row in table.rows:
        values = [_number(row.metrics.get(name) if name != table.metric else row.value) for name in table.metrics]
        lines.append(_md_line([(row.short or "-") + ("*" if row.dirty else ""), row.run_id or "-",
                               row.status or "no run", *values, _delta(row), row.branch or "-", _label(row)]))
    return "\n".join(lines) + "\n"


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_inline(one_line(cell)) or " " for cell in cells) + " |"


def _tree_value(tree: SearchTree, value: float | None, delta: float | None) -> str:
    if value is None:
        return f"{tree.metric}=-"
    return f"{tree.metric}={value:.4g}" + (f" ({delta * 100:+.1f}%)" if delta is not None else "")


def render_search_tree(tree: SearchTree) -> str:
    """The search's nodes indented under their parents (drafts under the baseline): operator,
    metric and its change against the baseline, status, cost, compute, commit and summary."""
    title = one_line(f"search {tree.session} on {tree.metric} ({tree.direction}): {tree.status}"
                     + (f" ({tree.message})" if tree.message else "")
                     + f"; {len(tree.nodes)} node(s), ${tree.cost_usd:.4f}, compute {tree.compute_s:.1f}s")
    rows = [["baseline", _tree_value(tree, tree.baseline_value, None), "", "", "", tree.base_commit[:8],
             f"run {tree.baseline_run or 'none'} on {tree.base_branch}"]]
    children: dict[str | None, list[SearchTreeNode]] = {}
    for node in tree.nodes:
        children.setdefault(node.parent, []).append(node)

    def add(parent: str | None, depth: int) -> None:
        for node in children.get(parent, []):
            status = node.status + (" *best*" if node.best else "")
            summary = node.summary + (f" ({node.why})" if node.why and node.status != "passed" else "")
            rows.append([f"{'  ' * depth}{node.id} {node.operator}", _tree_value(tree, node.value, node.delta), status,
                         f"${node.cost_usd:.4f}", f"{node.compute_s:.1f}s", node.commit[:8], summary])
            add(node.id, depth + 1)

    add(None, 1)
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [title]
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
        lines.append(f"  {line}"[:160].rstrip())
    return "\n".join(lines)
