// Where the plot's lines, points, ticks and baseline go, in SVG pixels, without the DOM: the
// webview only creates the elements, so the arithmetic is unit-tested here.
import type { Series } from "./panelData";
import { formatValue } from "./runText";

export interface Box {
  width: number;
  height: number;
  /** Room for the axis labels. */
  left: number;
  bottom: number;
  top: number;
  right: number;
}

export interface PlacedPoint {
  cx: number;
  cy: number;
  runId: string;
  /** The run's number among every run, as the x axis counts. */
  x: number;
  y: number;
}

export interface PlacedLine {
  branch: string;
  /** An SVG path `d` through the points in run order. */
  path: string;
  points: PlacedPoint[];
}

export interface Tick {
  at: number;
  label: string;
}

export interface PlotLayout {
  lines: PlacedLine[];
  /** The baseline's pixel row, null without a baseline. */
  baselineAt: number | null;
  yTicks: Tick[];
  xTicks: Tick[];
}

/** Round steps (1, 2, 5 × 10^n) covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) {
    return [min];
  }
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/** The value range shown: every point and the baseline, padded so nothing sits on the frame. */
function yRange(series: Series[], baseline: number | null): [number, number] {
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  if (baseline !== null) {
    ys.push(baseline);
  }
  if (!ys.length) {
    return [0, 1];
  }
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const pad = hi > lo ? (hi - lo) * 0.08 : Math.abs(hi) * 0.05 || 0.5;
  return [lo - pad, hi + pad];
}

export function plotLayout(series: Series[], baseline: number | null, box: Box): PlotLayout {
  const [lo, hi] = yRange(series, baseline);
  // the axis spans the run numbers shown: under a filter they need not start at 1
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xMin = xs.length ? Math.min(...xs) : 1;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const plotW = box.width - box.left - box.right;
  const plotH = box.height - box.top - box.bottom;
  // one run alone sits in the middle rather than on the left edge
  const px = (x: number) => box.left + (xMax === xMin ? plotW / 2 : ((x - xMin) / (xMax - xMin)) * plotW);
  const py = (y: number) => box.top + (1 - (y - lo) / (hi - lo)) * plotH;
  const round = (v: number) => Math.round(v * 10) / 10;
  const lines = series.map((s) => {
    const points = s.points.map((p) => ({ cx: round(px(p.x)), cy: round(py(p.y)), runId: p.runId, x: p.x, y: p.y }));
    const path = points.map((p, i) => `${i ? "L" : "M"}${p.cx},${p.cy}`).join(" ");
    return { branch: s.branch, path, points };
  });
  const xTicks = niceTicks(xMin, xMax, Math.min(8, xMax - xMin))
    .filter((x) => Number.isInteger(x))
    .map((x) => ({ at: round(px(x)), label: String(x) }));
  return {
    lines,
    baselineAt: baseline === null ? null : round(py(baseline)),
    yTicks: niceTicks(lo, hi, 5).map((y) => ({ at: round(py(y)), label: formatValue(y) })),
    xTicks,
  };
}
