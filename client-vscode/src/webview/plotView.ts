/// <reference lib="dom" />
// The plot as inline SVG: one line per branch in the theme's chart colours, the baseline as a
// dashed reference line; each point's tooltip names its run.
import type { Series } from "../panelData";
import { plotLayout, type Box } from "../plotLayout";
import { formatValue } from "../runText";
import { el, svg } from "./dom";

const BOX: Box = { width: 720, height: 260, left: 64, right: 16, top: 16, bottom: 36 };
const COLOURS = 6; // .c0 … .c5 in panel.css, the theme's chart colours

/** `branches`: every branch in the table, so a branch keeps its colour while others are filtered out. */
export function renderPlot(host: HTMLElement, series: Series[], baseline: number | null, metric: string, branches: string[]): void {
  if (!metric || !series.length) {
    host.replaceChildren(el("p", { class: "dim", text: metric ? `No run reported ${metric} yet.` : "No metric to plot yet." }));
    return;
  }
  const layout = plotLayout(series, baseline, BOX);
  const chart = svg("svg", { viewBox: `0 0 ${BOX.width} ${BOX.height}`, role: "img", class: "chart" });
  chart.append(svg("title", {}, `${metric} by run number (every run, in start order), one line per branch`));
  const bottom = BOX.height - BOX.bottom;
  for (const tick of layout.yTicks) {
    chart.append(svg("line", { x1: BOX.left, x2: BOX.width - BOX.right, y1: tick.at, y2: tick.at, class: "grid" }));
    chart.append(svg("text", { x: BOX.left - 6, y: tick.at + 4, class: "axis", "text-anchor": "end" }, tick.label));
  }
  for (const tick of layout.xTicks) {
    chart.append(svg("text", { x: tick.at, y: bottom + 16, class: "axis", "text-anchor": "middle" }, tick.label));
  }
  chart.append(svg("text", { x: (BOX.left + BOX.width) / 2, y: BOX.height - 2, class: "axis", "text-anchor": "middle" }, "run number (every run, in start order)"));
  if (layout.baselineAt !== null && baseline !== null) {
    chart.append(svg("line", { x1: BOX.left, x2: BOX.width - BOX.right, y1: layout.baselineAt, y2: layout.baselineAt, class: "baseline" }));
    chart.append(svg("text", { x: BOX.width - BOX.right - 4, y: layout.baselineAt - 4, class: "axis", "text-anchor": "end" }, `baseline ${formatValue(baseline)}`));
  }
  const legend = el("div", { class: "legend" });
  for (const line of layout.lines) {
    const colour = `c${Math.max(0, branches.indexOf(line.branch)) % COLOURS}`;
    chart.append(svg("path", { d: line.path, class: `line ${colour}` }));
    for (const point of line.points) {
      const dot = svg("circle", { cx: point.cx, cy: point.cy, r: 4, class: `dot ${colour}` });
      dot.append(svg("title", {}, `run #${point.x} ${point.runId} · ${line.branch}: ${metric} = ${formatValue(point.y)}`));
      chart.append(dot);
    }
    legend.append(el("span", { class: `swatch ${colour}` }), document.createTextNode(line.branch));
  }
  host.replaceChildren(el("h3", { text: metric }), chart, legend);
}
