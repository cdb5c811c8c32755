/// <reference lib="dom" />
// Two runs side by side (mlrCopilot.compare): metrics, what each run was (status, branch,
// start, duration), the settings and environment that differ, and the code diff between their
// commits, one text line per element.
import type { RunComparison } from "../protocol";
import { formatRelativeDelta, formatValue } from "../runText";
import { el } from "./dom";

const number = (value: number | null): string => (value === null ? "–" : formatValue(value));
const setting = (value: unknown): string => (value === null || value === undefined ? "–" : String(value));

function table(head: string[], rows: string[][], classes: string[] = []): HTMLElement {
  return el(
    "table",
    { class: "compact" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows.map((cells, i) => el("tr", { class: classes[i] ?? "" }, ...cells.map((c) => el("td", { text: c }))))),
  );
}

function diffLines(diff: string): HTMLElement {
  const pre = el("pre", { class: "diff" });
  for (const line of diff.replace(/\n$/, "").split("\n")) {
    const kind = line.startsWith("+++") || line.startsWith("---") ? "file"
      : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.append(el("span", { class: kind, text: `${line}\n` }));
  }
  return pre;
}

export function renderComparison(host: HTMLElement, result: RunComparison): void {
  const short = (sha: string | null) => (sha ? sha.slice(0, 7) : "no commit");
  const metrics = result.metrics.map((m) => [m.name, number(m.a), number(m.b), m.delta === null ? "" : formatValue(m.delta), formatRelativeDelta(m.relative)]);
  const tones = result.metrics.map((m) => (m.relative === null || m.relative === 0 ? "" : m.relative > 0 ? "good" : "bad"));
  const differ = result.settings.filter((s) => !s.same);
  const environment = result.environment ?? [];
  const parts: HTMLElement[] = [
    el("h3", { text: `Run A ${result.run_a} (${short(result.commit_a)})  vs  run B ${result.run_b} (${short(result.commit_b)})` }),
    el("h4", { text: "Metrics (B − A; % positive means B is better)" }),
    metrics.length ? table(["metric", "A", "B", "B − A", "change"], metrics, tones) : el("p", { text: "Neither run reported a metric." }),
    // an older server sends no facts: then there is no such section
    ...(result.facts?.length ? [el("h4", { text: "Runs" }), table(["", "A", "B"], result.facts.map((f) => [f.name, setting(f.a), setting(f.b)]))] : []),
    el("h4", { text: "Settings that differ" }),
    differ.length ? table(["setting", "A", "B"], differ.map((s) => [s.name, setting(s.a), setting(s.b)])) : el("p", { class: "dim", text: "Same settings." }),
    el("h4", { text: "Environment" }),
    environment.length
      ? table(["what", "A", "B"], environment.map((c) => [c.what, setting(c.a), setting(c.b)]))
      : el("p", { class: "dim", text: result.environment_recorded ? "Same environment." : "Not recorded for these runs." }),
    el("h4", { text: `Code diff ${short(result.commit_a)} → ${short(result.commit_b)}` }),
    ...(result.diff_notes ?? []).map((note) => el("p", { class: "dim", text: note })),
  ];
  if (result.secret_files?.length) {
    parts.push(el("p", { class: "dim", text: `Secrets files changed, content not shown: ${result.secret_files.join(", ")}` }));
  }
  parts.push(result.diff ? diffLines(result.diff) : el("p", { class: "dim", text: "No code difference." }));
  host.replaceChildren(...parts);
  host.scrollIntoView({ block: "start" });
}
