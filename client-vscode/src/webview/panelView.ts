/// <reference lib="dom" />
// The Experiments panel's page (bundled to media/panel.js): toolbar, plot, runs table and a
// comparison. Record content (branch names, metric names, diffs) only ever goes in as text
// nodes or attribute values, never as markup.
import {
  baselineValue,
  cellText,
  columns,
  filterChoices,
  filterRows,
  metricNames,
  plotSeries,
  runRows,
  sortRows,
  type Column,
  type ColumnId,
  type Filter,
  type FromPanel,
  type RunRow,
  type Sort,
  type ToPanel,
} from "../panelData";
import type { HistoryTable, HypothesisInfo } from "../protocol";
import { renderComparison } from "./compareView";
import { el, select } from "./dom";
import { renderPlot } from "./plotView";

declare function acquireVsCodeApi(): {
  postMessage(message: FromPanel): void;
  getState(): unknown;
  setState(state: unknown): void;
};

interface ViewState {
  sort: Sort;
  filter: Filter;
  hidden: ColumnId[];
  metric: string;
  selected: string[];
}

const api = acquireVsCodeApi();
const saved = (api.getState() ?? {}) as Partial<ViewState>;
const state: ViewState = {
  sort: saved.sort ?? { column: "started", descending: true },
  filter: saved.filter ?? { branch: "", hypothesis: "", status: "" },
  hidden: saved.hidden ?? [],
  metric: saved.metric ?? "",
  selected: saved.selected ?? [],
};
let data: { table: HistoryTable; hypotheses: HypothesisInfo[] } | undefined;

const root = document.getElementById("root") as HTMLElement;
const toolbar = el("div", { class: "toolbar" });
const message = el("div", { class: "message", role: "status" });
const plot = el("section", { class: "plot", id: "plot" });
const tableBox = el("section", { class: "runs", id: "runs" });
const comparison = el("section", { class: "comparison", id: "comparison" });
root.append(toolbar, message, plot, tableBox, comparison);

function update(change: Partial<ViewState>): void {
  Object.assign(state, change);
  api.setState(state);
  render();
}

function render(): void {
  if (!data) {
    return;
  }
  const all = runRows(data.table, data.hypotheses);
  const metrics = metricNames(data.table, all);
  const metric = metrics.includes(state.metric) ? state.metric : (metrics[0] ?? "");
  const shown = sortRows(filterRows(all, state.filter), state.sort);
  state.selected = state.selected.filter((id) => all.some((r) => r.runId === id));
  const branches = new Set(all.map((r) => r.branch)).size;
  message.textContent = all.length
    ? `${all.length} run${all.length === 1 ? "" : "s"} on ${branches} branch${branches === 1 ? "" : "es"}` +
      (shown.length < all.length ? `, ${shown.length} shown` : "")
    : "No runs yet: run an experiment (MLR-Copilot: Run experiment) and it appears here.";
  renderToolbar(all, metrics, metric);
  renderPlot(plot, plotSeries(shown, metric, all), baselineValue(all, metric), metric, filterChoices(all).branch);
  renderTable(shown, columns(metrics).filter((c) => !state.hidden.includes(c.id)));
}

function renderToolbar(all: RunRow[], metrics: string[], metric: string): void {
  const choices = filterChoices(all);
  const filter = (key: keyof Filter, label: string) =>
    select(label, ["", ...choices[key]], state.filter[key], (value) => update({ filter: { ...state.filter, [key]: value } }), "all");
  const columnsMenu = el("details", { class: "columns" }, el("summary", { text: "Columns" }));
  for (const column of columns(metrics)) {
    const box = el("input", { type: "checkbox" });
    box.checked = !state.hidden.includes(column.id);
    box.addEventListener("change", () =>
      update({ hidden: box.checked ? state.hidden.filter((id) => id !== column.id) : [...state.hidden, column.id] }),
    );
    columnsMenu.append(el("label", {}, box, document.createTextNode(column.title)));
  }
  const compare = el("button", { text: `Compare (${state.selected.length}/2)`, id: "compare" });
  compare.disabled = state.selected.length !== 2;
  compare.addEventListener("click", () => {
    comparison.replaceChildren(el("p", { text: "Comparing…" }));
    api.postMessage({ type: "compare", a: state.selected[0], b: state.selected[1] });
  });
  const refresh = el("button", { text: "Refresh", class: "secondary" });
  refresh.addEventListener("click", () => api.postMessage({ type: "refresh" }));
  toolbar.replaceChildren(
    filter("branch", "Branch"),
    filter("hypothesis", "Hypothesis"),
    filter("status", "Status"),
    select("Plot", metrics, metric, (value) => update({ metric: value })),
    columnsMenu,
    compare,
    refresh,
  );
  // keep the columns menu open across the redraw its own checkboxes cause
  columnsMenu.open = document.body.dataset.columnsOpen === "1";
  columnsMenu.addEventListener("toggle", () => (document.body.dataset.columnsOpen = columnsMenu.open ? "1" : "0"));
}

function headerCell(column: Column): HTMLElement {
  const sorted = state.sort.column === column.id;
  const th = el("th", { class: column.numeric ? "num" : "", text: column.title + (sorted ? (state.sort.descending ? " ▼" : " ▲") : "") });
  th.setAttribute("aria-sort", sorted ? (state.sort.descending ? "descending" : "ascending") : "none");
  th.title = `Sort by ${column.title}`;
  th.addEventListener("click", () => update({ sort: { column: column.id, descending: sorted ? !state.sort.descending : column.numeric } }));
  return th;
}

function bodyCell(row: RunRow, column: Column): HTMLElement {
  const td = el("td", { class: column.numeric ? "num" : "" });
  if (column.id === "commit" && row.sha) {
    const link = el("a", { text: row.commit, href: "#", title: row.subject || row.sha });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      api.postMessage({ type: "openCommit", sha: row.sha });
    });
    td.append(link);
  } else if (column.id === "branch") {
    const what = [row.hypothesis, row.subject].filter(Boolean).join(": ");
    td.append(el("div", { class: "what", text: what, title: what }), el("div", { class: "dim nowrap", text: row.branch }));
  } else if (column.id === "status") {
    td.append(el("span", { class: `status ${row.status}`, text: row.status }));
  } else if (column.id === "delta") {
    const sign = row.baseline ? "base" : (row.delta ?? 0) > 0 ? "good" : (row.delta ?? 0) < 0 ? "bad" : "";
    td.append(el("span", { class: `delta ${sign}`, text: cellText(row, column.id) }));
  } else {
    td.textContent = cellText(row, column.id);
    td.classList.toggle("nowrap", column.id === "started" || column.id === "duration");
  }
  return td;
}

function renderTable(rows: RunRow[], shown: Column[]): void {
  const head = el("tr", {}, el("th", { text: "" }), ...shown.map(headerCell), el("th", { text: "" }));
  const body = rows.map((row) => {
    const pick = el("input", { type: "checkbox", title: "Select to compare" });
    pick.checked = state.selected.includes(row.runId);
    pick.addEventListener("change", () => {
      const rest = state.selected.filter((id) => id !== row.runId);
      update({ selected: pick.checked ? [...rest, row.runId].slice(-2) : rest });
    });
    const log = el("button", { text: "Log", class: "link", title: row.logPath ?? "no log recorded" });
    log.disabled = !row.logPath;
    log.addEventListener("click", () => row.logPath && api.postMessage({ type: "openLog", path: row.logPath }));
    const worktree = el("button", { text: "Worktree", class: "link", title: row.sha ? `Check out ${row.commit} in a new worktree beside the workspace` : "no commit recorded" });
    worktree.disabled = !row.sha;
    worktree.addEventListener("click", () => api.postMessage({ type: "checkoutRun", runId: row.runId }));
    const tr = el("tr", { class: row.baseline ? "baseline" : "" }, el("td", {}, pick), ...shown.map((c) => bodyCell(row, c)),
      el("td", { class: "nowrap" }, log, worktree));
    tr.dataset.run = row.runId;
    return tr;
  });
  tableBox.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
}

window.addEventListener("message", (event: MessageEvent<ToPanel>) => {
  const msg = event.data;
  if (msg.type === "data") {
    data = { table: msg.table, hypotheses: msg.hypotheses };
    render();
  } else if (msg.type === "comparison") {
    renderComparison(comparison, msg.result);
  } else if (msg.type === "error") {
    message.textContent = msg.message;
  }
});
api.postMessage({ type: "ready" });
