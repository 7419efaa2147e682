/**
 * Everything the notebook shows, as Markdown first: an executed notebook opens *untrusted* in
 * JupyterLab and in git forges, where HTML and SVG are sanitised away but Markdown and PNG render.
 * Values pass through the redactor before they are displayed.
 */
import { redact } from "../evidence/redact";
import { inertText } from "./inert";
import { formatAmount, type Money } from "../money";
import { MACHINE_CLOCK, STEPS } from "../run/steps";
import type { FactDef, StepTable } from "../run/step-model";
import type { FactValue, PollSample, StepResult } from "../types";

export const ICON: Record<StepResult["status"], string> = {
  PASS: "✅",
  FAIL: "❌",
  SKIPPED: "⏭️",
  INTERRUPTED: "⏹️",
};

/**
 * A value (backend or operator text) as a Markdown table cell or mid-line text: `inertText`
 * (lib/report/inert.ts), so `|` and newlines cannot break the table and nothing in it can form a
 * link, HTML or any other construct; it renders as the text itself.
 */
export function cell(v: unknown): string {
  return inertText(v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
}

/** One fact as text, by its declared kind: the only place facts become display text. */
export function factText(def: FactDef | undefined, v: FactValue | undefined): string {
  if (v === null || v === undefined) return "—";
  switch (def?.kind) {
    case "money":
      return formatAmount(v as Money);
    case "bool":
      return v ? (def.yes ?? "yes") : (def.no ?? "no");
    case "percent":
      return `${v} %`;
    default:
      return typeof v === "string" ? v : JSON.stringify(v);
  }
}

/** A step's facts as "label: value" lines in the table's order (redacted). */
export function factLines(r: Pick<StepResult, "step" | "observed">, table: StepTable = STEPS): string[] {
  const facts = table[r.step]?.facts ?? {};
  const o = redact(r.observed);
  const keys = [...Object.keys(facts).filter((k) => k in o), ...Object.keys(o).filter((k) => !(k in facts))];
  return keys.map((k) => `${facts[k]?.label ?? k}: ${factText(facts[k], o[k])}`);
}

/** A step's facts as "label: value, …" (the report's Observed column). */
export function observedText(r: Pick<StepResult, "step" | "observed">, table: StepTable = STEPS): string {
  return factLines(r, table).join(", ") || "—";
}

export function traceText(t: StepResult["trace"]): string {
  return t ? `trace L${t.from}–L${t.to}` : "—";
}

export const TABLE_HEAD = "| Step | Status | Observed | Trace |\n| --- | --- | --- | --- |";

export function stepRow(r: StepResult, table: StepTable = STEPS): string {
  const def = table[r.step];
  const name = def?.name ?? r.name;
  // The gate's row (pre-flight) carries no number: the table says which step it is.
  const label = def?.gate ? name : `${r.step}. ${name}`;
  return `| ${cell(label)} | ${ICON[r.status]} ${r.status} | ${cell(observedText(r, table))} | ${cell(traceText(r.trace))} |`;
}

/** One step's result as a Markdown block: a table row plus the reason and the UTC window. */
export function stepMarkdown(r: StepResult, table: StepTable = STEPS): string {
  const lines = [TABLE_HEAD, stepRow(r, table), ""];
  if (r.reason)
    lines.push(`${r.status === "PASS" ? "**Note:**" : `**${ICON[r.status]} ${r.status}:**`} ${cell(r.reason)}`, "");
  lines.push(`<sub>started ${r.startedAt} · ended ${r.endedAt} (${MACHINE_CLOCK}) · ${r.durationMs} ms</sub>`);
  return lines.join("\n");
}

/** A loud banner (Markdown blockquote) for warnings and the real-charge reminder. */
export function banner(title: string, lines: string[]): string {
  return [`> ### ${title}`, ...lines.map((l) => `> ${l}`)].join("\n");
}

/** The in-place progress line of a poll, with the next attempt's time (UTC, this machine's clock) while one is planned. */
export function pollLine(s: PollSample, elapsedS: number, deadlineS: number): string {
  const status =
    s.orderStatus ??
    (s.errorKind === "schema" ? "schema mismatch" : s.httpStatus ? `HTTP ${s.httpStatus}` : "network error");
  const next =
    s.nextAt && s.pauseMs !== undefined
      ? ` · next check ${s.nextAt.slice(11, 19)}Z (in ${s.pauseMs < 1000 ? (s.pauseMs / 1000).toFixed(1) : Math.round(s.pauseMs / 1000)} s)`
      : "";
  // The attempt's time and the next one's are this machine's (lib/run/poll.ts), never the backend's.
  return `⏳ step ${s.step} · attempt ${s.attempt} · ${s.at} (${MACHINE_CLOCK}) · ${elapsedS.toFixed(1)} s / ${deadlineS} s · ${s.latencyMs} ms · **${inertText(status)}**${next}`;
}
