/**
 * The notebook's side of the runbook: cells call one of these and nothing else, so each cell
 * stays one line. Every output is Markdown or PNG (readable untrusted), and each is shown once.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { oneLine } from "../errors";
import { banner, pollLine, stepMarkdown, type Sink } from "../report/display";
import { loadEvidence } from "../report/evidence";
import { publishReport } from "../report/report";
import { renderPollPlot } from "../plot";
import { POLL_PLOT } from "../evidence/files";
import { redactString } from "../evidence/redact";
import { Runbook } from "../run/runbook";
import type { Params } from "../config";
import type { StepResult } from "../types";

/** What the notebook passes in: tslab's module (only importable inside the kernel). */
export interface TslabLike {
  display: Sink;
  newDisplay(): Sink;
}

export class NotebookUi {
  readonly rb: Runbook;
  private readonly tslab: TslabLike;
  private payLink: Sink | null = null;

  constructor(rb: Runbook, tslab: TslabLike) {
    this.rb = rb;
    this.tslab = tslab;
    let line: Sink | null = null;
    let lastStep = 0;
    rb.hooks.onPoll = (s, elapsed, deadline) => {
      if (!line || s.step !== lastStep) line = tslab.newDisplay();
      lastStep = s.step;
      line.markdown(pollLine(s, elapsed, deadline));
    };
  }

  /** Shows a step result; a FAIL gets a loud banner so it is seen even in a long notebook. */
  show(r: StepResult): void {
    const d = this.tslab.display;
    const table = this.rb.table;
    d.markdown(stepMarkdown(r, table));
    if (r.status === "FAIL")
      d.markdown(
        banner(`❌ Step ${r.step} FAILED — later steps that depend on it will be SKIPPED`, [
          redactString(r.reason ?? ""),
        ]),
      );
    // From the payment step up to the refund step, a step that did not pass leaves money out.
    const pay = table.find((x) => x.movesMoney);
    const refund = table.find((x) => x.returnsMoney);
    if (r.status !== "PASS" && pay && refund && r.step >= pay.n && r.step < refund.n && this.rb.moneyOutstanding) {
      d.markdown(
        banner("💶 Money has moved", [
          `The payment was confirmed. The refund step (${refund.n}) stays available: run it to give the money back, then escalate what failed.`,
        ]),
      );
    }
  }

  showPreflight(r: StepResult): void {
    this.show(r);
    const rep = this.rb.preflightReport;
    if (!rep) return;
    const d = this.tslab.display;
    if (rep.refusals.length)
      d.markdown(
        banner(
          "🛑 Pre-flight refused — nothing was sent",
          rep.refusals.map((x) => `- ${x}`),
        ),
      );
    if (rep.warnings.length)
      d.markdown(
        banner(
          "⚠️ Warnings",
          rep.warnings.map((x) => `- ${x}`),
        ),
      );
    d.markdown(banner(this.rb.cfg.mode === "live" ? "💳 A REAL CARD WILL BE CHARGED" : "Reminder", [rep.reminder]));
  }

  /** Step 4, first half: amount and a clickable payment link (or the headless payer's result). */
  async pay(): Promise<void> {
    const p = await this.rb.pay();
    const lines = [`**Amount:** ${p.amount}`, ""];
    if (p.auto)
      lines.push(
        `Headless payer (${p.auto.via}): **${p.auto.status}** · card •••• ${p.auto.last4} · ${p.auto.connector ?? "?"}${p.auto.errorCode ? ` · ${p.auto.errorCode}` : ""}`,
      );
    else if (!this.rb.journal.last("payment_confirmed")) {
      // The link carries the checkout's client secret: shown once in an updatable output,
      // and overwritten with a redacted copy by the paid cell, so it never stays in the notebook.
      this.payLink = this.tslab.newDisplay();
      this.payLink.markdown(
        `[**Pay ${p.amount} on the hosted checkout →**](${p.paymentUrl})\n\nThen fill in the paid cell below (last 4 digits and processor only) and run it.`,
      );
    }
    lines.push("", p.note);
    this.tslab.display.markdown(lines.join("\n"));
  }

  /** Step 4, second half ("paid" cell). */
  async paid(seen: { last4?: string; processor?: string }): Promise<void> {
    const r = await this.rb.confirmPaid(seen);
    this.payLink?.markdown(`~~payment link~~ (redacted after confirmation at ${r.endedAt})`);
    this.show(r);
  }

  /**
   * Final cell: the session block computed from the evidence (journal and trace), written to the
   * session folder, shown as Markdown (readable untrusted) and through marked as HTML, then the
   * housekeeping reminders and the chain head to anchor elsewhere.
   */
  async report(): Promise<void> {
    const d = this.tslab.display;
    const docs = this.rb.cfg.docsDir;
    const p = publishReport(this.rb.dir, {
      docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
      checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
    });
    // Once, as Markdown: every front end renders it (JupyterLab trusted or not, a forge's viewer);
    // the archive adds the escaped HTML rendering beside it for nbconvert (lib/notebook/archive.ts).
    d.markdown(p.session.markdown);
    if (p.housekeeping.length) d.markdown(["**Housekeeping**", ...p.housekeeping.map((h) => `- ${h}`)].join("\n"));
    d.markdown(
      `**Outcome: ${p.session.outcome}**${p.session.reason ? ` — ${p.session.reason}` : ""}\n\n**Trace chain head:** \`${this.rb.trace.head}\` (${this.rb.trace.seq} lines) — anchor it in the ticket or the commit message.`,
    );
  }

  /** Poll latency plot, shown once as PNG (renders untrusted); PNG and SVG are saved in the session folder. */
  plot(): void {
    // From the trace, like the report: after a kernel restart the polls of the earlier kernel count too.
    const out = renderPollPlot(loadEvidence(this.rb.dir, { table: this.rb.table }).samples, { table: this.rb.table });
    fs.writeFileSync(path.join(this.rb.dir, `${POLL_PLOT}.svg`), out.svg);
    fs.writeFileSync(path.join(this.rb.dir, `${POLL_PLOT}.png`), out.png);
    this.tslab.display.png(out.png);
  }
}

/**
 * Opens the session named by the parameters and binds it to the notebook.
 * A bad parameter is shown as one line naming the variable and the fix, then rethrown.
 */
export function openNotebook(params: Params, tslab: TslabLike): NotebookUi {
  let rb: Runbook;
  try {
    rb = Runbook.open(params);
  } catch (err) {
    tslab.display.markdown(banner("🛑 Cannot start", [oneLine(err), "", "Nothing was sent and no money moved."]));
    throw err;
  }
  const ui = new NotebookUi(rb, tslab);
  const lines = [
    `**Session** \`${rb.cfg.sessionId}\` · mode **${rb.cfg.mode}** · ${rb.cfg.baseUrl} · folder \`${rb.dir}\``,
  ];
  const resumed = rb.resumeSummary();
  if (resumed.length)
    lines.push("", "**Resuming this session** (nothing will be created twice):", ...resumed.map((s) => `- ${s}`));
  tslab.display.markdown(lines.join("\n"));
  return ui;
}
