/**
 * What the report derives from a session's trace, beyond what the runbook recorded: request
 * counters, anomalies (recorded ones plus slow steps, 5xx outside poll windows, clock skew, a
 * broken chain) and the cross-id trail. The step table says which steps poll and which fact
 * carries which cross-id.
 */
import { z } from "zod";
import { clockSkewMs, skewSeconds } from "../evidence/clock";
import { type JournalEntry, lastOf } from "../evidence/journal";
import type { ChainCheck, TraceEvent } from "../evidence/chain";
import { chainBreakText } from "../evidence/finding-text";
import { maskPayLink, OUTPUTS_RESTORED_EVENT, PAY_LINK_MASKED_EVENT } from "../evidence/outputs";
import { RESEAL_NOTE_EVENT } from "../evidence/reseal";
import { quoted } from "../evidence/outcome-stated";
import { CLOCK_SKEW_WARN_MS } from "../run/guards";
import type { StepTable } from "../run/step-model";
import type { Anomaly, StepResult } from "../types";

export const EVIDENCE_RULES = {
  // A step with neither a human wait nor a poll window (the table's poll steps) should take seconds.
  slowStepMs: 60 * 1000, // 60 s
  slowRequestMs: 10 * 1000, // 10 s for one HTTP round trip
  clockSkewMs: CLOCK_SKEW_WARN_MS, // 5 s between our clock and the server's Date header
};

export const NOT_VISIBLE = "not visible to the runbook";

export interface CrossId {
  link: "order" | "payment" | "refund" | "licence" | "seller_transfer" | "webhook events";
  id: string | null;
  source: string;
}

export interface Counters {
  requests: number;
  retries: number;
  http5xx: number;
  networkErrors: number;
  schema: number;
  /** Largest |server Date − trace time| seen, seconds; null without Date headers. */
  maxClockSkewS: number | null;
  /** HTTP 5xx responses inside each step's trace range, index = step. */
  http5xxByStep: number[];
}

const str = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function stepAt(line: number, steps: Array<StepResult | null>): number | null {
  const s = steps.find((r) => r?.trace && line >= r.trace.from && line <= r.trace.to);
  return s ? s.step : null;
}

export function count(events: TraceEvent[], steps: Array<StepResult | null>, table: StepTable): Counters {
  const c: Counters = {
    requests: 0,
    retries: 0,
    http5xx: 0,
    networkErrors: 0,
    schema: 0,
    maxClockSkewS: null,
    http5xxByStep: table.map(() => 0),
  };
  for (const e of events) {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (e.type === "request") {
      c.requests++;
      if (Number(p.attempt) > 1) c.retries++;
    } else if (e.type === "response") {
      if (typeof p.error === "string") c.networkErrors++;
      if (Number(p.status) >= 500) {
        c.http5xx++;
        const s = stepAt(e.seq, steps);
        if (s !== null) c.http5xxByStep[s]++;
      }
      const ms = clockSkewMs((p.headers as Record<string, string> | undefined)?.date, Date.parse(e.time));
      if (ms !== null) {
        const skew = skewSeconds(ms);
        if (c.maxClockSkewS === null || Math.abs(skew) > Math.abs(c.maxClockSkewS)) c.maxClockSkewS = skew;
      }
    } else if (e.type === "anomaly" && (p as Partial<Anomaly>).kind === "schema") c.schema++;
  }
  return c;
}

/**
 * `npm run session --new-anyway`: the earlier sessions, money moved and no refund, this one was
 * created beside (its `session_created`), listed so the report links to their evidence.
 */
export function besideAnomalies(at: string, beside: readonly string[] | undefined): Anomaly[] {
  return (beside ?? []).map((id) => ({
    at,
    step: null,
    kind: "operator",
    message: `created with --new-anyway beside session ${id}, which moved money and had no refund recorded: its evidence is in its own folder (npm run verify -- ${id})`,
  }));
}

export function anomalies(
  events: TraceEvent[],
  steps: Array<StepResult | null>,
  chain: ChainCheck,
  c: Counters,
  table: StepTable,
): Anomaly[] {
  const out: Anomaly[] = [];
  const isPoll = (n: number | null) => n !== null && Boolean(table[n]?.poll);
  let reseals = 0;
  for (const e of events) {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (e.type === "anomaly") {
      out.push({
        at: str(p.at) ?? e.time,
        step: num(p.step),
        kind: (str(p.kind) ?? "warning") as Anomaly["kind"],
        message: String(p.message ?? ""),
        traceLine: e.seq,
      });
    } else if (e.type === "note" && p.event === OUTPUTS_RESTORED_EVENT) {
      // The notebook's outputs were written back by the tool, not saved by the operator: said here too.
      const cells = Array.isArray(p.cells) ? p.cells.map(String) : [];
      out.push({
        at: e.time,
        step: null,
        kind: "operator",
        message: `the notebook's outputs were written back from the kernel's copy (outputs.jsonl) by npm run archive --restore-outputs (${cells.length} cell${cells.length === 1 ? "" : "s"}: ${cells.join(", ") || "none named"}): the notebook had lost them (closed without saving?)`,
        traceLine: e.seq,
      });
    } else if (e.type === "note" && p.event === RESEAL_NOTE_EVENT) {
      // A deliberate re-seal: who (the key that signed it), why (the reason), when, over which seal.
      out.push({ at: e.time, step: null, kind: "operator", message: resealText(p, ++reseals), traceLine: e.seq });
    } else if (e.type === "note" && typeof p.event === "string" && p.event.startsWith(PAY_LINK_MASKED_EVENT)) {
      // The tool changed the notebook before sealing it: said here, without the link (the trace has none).
      out.push({ at: e.time, step: null, kind: "warning", message: payLinkMaskedText(p), traceLine: e.seq });
    } else if (e.type === "response") {
      const step = stepAt(e.seq, steps);
      const poll = isPoll(step);
      // Poll 5xx are recorded per attempt by the runbook; elsewhere they are derived here.
      if (Number(p.status) >= 500 && !poll)
        out.push({
          at: e.time,
          step,
          kind: "http_5xx",
          message: `${p.endpoint} answered ${p.status} (attempt ${p.attempt})`,
          traceLine: e.seq,
        });
      if (Number(p.latency_ms) > EVIDENCE_RULES.slowRequestMs)
        out.push({
          at: e.time,
          step,
          kind: "slow_step",
          message: `${p.endpoint} took ${(Number(p.latency_ms) / 1000).toFixed(1)} s (> ${EVIDENCE_RULES.slowRequestMs / 1000} s for one round trip)`,
          traceLine: e.seq,
        });
    }
  }
  for (const r of steps) {
    if (r && !isPoll(r.step) && r.durationMs > EVIDENCE_RULES.slowStepMs) {
      out.push({
        at: r.endedAt,
        step: r.step,
        kind: "slow_step",
        message: `step ${r.step} took ${(r.durationMs / 1000).toFixed(1)} s (> ${EVIDENCE_RULES.slowStepMs / 1000} s for a step without a poll window)`,
        traceLine: r.trace?.to,
      });
    }
  }
  if (
    c.maxClockSkewS !== null &&
    Math.abs(c.maxClockSkewS) * 1000 > EVIDENCE_RULES.clockSkewMs &&
    !out.some((a) => a.kind === "clock_skew")
  ) {
    out.push({
      at: events[events.length - 1]?.time ?? "",
      step: null,
      kind: "clock_skew",
      message: `clock skew up to ${c.maxClockSkewS.toFixed(1)} s between the trace times and the server's Date headers`,
    });
  }
  if (!chain.ok && chain.firstBroken) {
    out.push({
      at: events[events.length - 1]?.time ?? "",
      step: null,
      kind: "warning",
      message: `trace chain broken at line ${chain.firstBroken.line}: ${chainBreakText(chain.firstBroken)}`,
      traceLine: chain.firstBroken.line,
    });
  }
  return out.sort((a, b) => (a.traceLine ?? Infinity) - (b.traceLine ?? Infinity));
}

const short = (v: unknown): string =>
  typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : "unknown";

/** The re-seal note (host/archive.ts), the k-th of the trace, in words: who, why, over which seal, what had changed. */
function resealText(p: Record<string, unknown>, k: number): string {
  const reason = typeof p.reason === "string" && p.reason.trim() ? maskPayLink(p.reason.trim()) : null;
  // Whom the allowed signers listed for the key when it re-sealed (their text: quoted), or why no one.
  const listed =
    typeof p.signer_identity === "string"
      ? `, the key ${str(p.allowed_signers) ?? "the allowed signers"} lists for ${quoted(p.signer_identity, 120)}`
      : typeof p.signer_unnamed === "string"
        ? `; no one named: ${p.signer_unnamed}`
        : "";
  const who =
    typeof p.signed_with === "string"
      ? `signed with ${p.signed_with}${listed} (reseal-${k}.json's signature names the signer)`
      : p.signed_with === null
        ? "unsigned: no signing key was given"
        : `signer not recorded in the note: see reseal-${k}.json's signature`;
  const changes = Array.isArray(p.changes) ? p.changes.map((c) => maskPayLink(String(c))) : [];
  return `re-sealed on purpose by npm run archive --reseal, replacing the seal of ${str(p.previous_sealed_at) ?? "an unknown time"} (manifest ${short(p.previous_manifest_sha256)}), with the reason ${reason ? `"${reason}"` : "(none recorded)"}; ${who}; what had changed: ${changes.join("; ") || "not recorded"}`;
}

/** The pay-link masking note (host/archive.ts maskPayLinks) in words; it never holds the link. */
function payLinkMaskedText(p: Record<string, unknown>): string {
  const why = String(p.event).slice(PAY_LINK_MASKED_EVENT.length).replace(/^:\s*/, "") || "no reason recorded";
  const n = num(p.links) ?? 0;
  return `the checkout link's client secret was masked in ${str(p.file) ?? "the notebook"} by npm run archive before sealing (${n} link${n === 1 ? "" : "s"}; ${why}): the notebook's SHA-256 was ${short(p.sha256_before)} before, ${short(p.sha256_after)} after`;
}

/** A traced response's payload, as far as the trail reads it (lib/clients/tracing.ts writes it). */
const ResponseBody = z.looseObject({ body: z.unknown().optional() });

/** A field that carries webhook event ids: `event_id`, `last_event_id`, `event_ids`… */
const EVENT_ID_FIELD = /(^|_)event_ids?$/;

/**
 * The webhook event ids a response body carries in fields named for them (`last_event_id` on an
 * order, say), in body order; never a pattern over the body's text.
 */
export function webhookEventIds(body: unknown): string[] {
  if (Array.isArray(body)) return body.flatMap(webhookEventIds);
  if (!body || typeof body !== "object") return [];
  return Object.entries(body).flatMap(([k, v]) => {
    if (!EVENT_ID_FIELD.test(k)) return webhookEventIds(v);
    const ids = Array.isArray(v) ? v : [v];
    return ids.filter((x): x is string => typeof x === "string" && x !== "");
  });
}

export function trail(
  journal: readonly JournalEntry[],
  steps: Array<StepResult | null>,
  events: TraceEvent[],
  table: StepTable,
): CrossId[] {
  const order = lastOf(journal, "order_created")?.data;
  const refund = lastOf(journal, "refund_created")?.data;
  const obs = (n: number, k: string) => str(steps[n]?.observed[k]);
  // Which step records which cross-id is declared in the step table (FactDef.link).
  const from = (link: CrossId["link"], fallback: unknown, fbSource: string): [string | null, string] => {
    const def = table.find((d) => Object.values(d.facts).some((f) => f.link === link));
    const k = def ? Object.keys(def.facts).find((key) => def.facts[key].link === link)! : "";
    const v = def ? obs(def.n, k) : null;
    if (def && v) return [v, `step ${def.n} observed \`${k}\``];
    const f = str(fallback);
    if (f) return [f, fbSource];
    if (!def) return [null, "not recorded: no step records it"];
    return [null, `not recorded: step ${def.n} ${steps[def.n] ? steps[def.n]!.status : "did not run"}`];
  };
  const row = (link: CrossId["link"], [id, source]: [string | null, string]): CrossId => ({ link, id, source });
  // Webhooks go from the orchestrator to the backend; only a response that echoes them shows ids.
  const evt = new Map<string, number>();
  for (const e of events)
    if (e.type === "response")
      for (const id of webhookEventIds(ResponseBody.safeParse(e.payload).data?.body))
        if (!evt.has(id)) evt.set(id, e.seq);
  return [
    row("order", from("order", order?.order_id, "journal `order_created`")),
    row("payment", from("payment", order?.payment_id, "journal `order_created`")),
    row("refund", from("refund", refund?.refund_id, "journal `refund_created`")),
    row("licence", from("licence", null, "")),
    row("seller_transfer", from("seller_transfer", null, "")),
    evt.size
      ? {
          link: "webhook events",
          id: [...evt.keys()].join(", "),
          source: `response bodies, trace ${[...evt.values()].map((l) => `L${l}`).join(", ")}`,
        }
      : {
          link: "webhook events",
          id: null,
          source: `${NOT_VISIBLE} (the orchestrator posts them to the backend directly)`,
        },
  ];
}
