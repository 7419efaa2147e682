/**
 * The notebook's side of the runbook: cells call one of these and nothing else, so each cell
 * stays one line. The notebook imports them through ./index.ts, which declares their shape
 * (NotebookCells) without this file's imports, so that tslab type-checks cells against that alone. Every output is Markdown or PNG (readable untrusted), and each is shown once.
 *
 * No method ever throws into tslab: a cell that throws makes tslab drop its queue, and in a
 * headless run every later cell then "runs" with no output (docs/platform.md). Each method renders its
 * own FAIL, SKIPPED or INTERRUPTED result instead. Kernel ■ (SIGINT) stops the running step through
 * its AbortSignal; the cell shows one line, not tslab's stack trace. Every output goes through
 * the one door of ./sink.ts (which also keeps the kernel's copy, outputs.jsonl). Over 300 lines: one method per kind of cell.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { oneLine } from "../errors";
import { formatAmount } from "../money";
import { banner, pollLine, stepMarkdown } from "../report/display";
import { loadEvidence } from "../report/evidence";
import { inertCode, inertSentence, inertText } from "../report/inert";
import { publishReport } from "../report/report";
import { outcomeJudge } from "../report/outcome-check";
import { renderPollPlot } from "../plot";
import { OUTPUTS_FILE, POLL_PLOT } from "../evidence/files";
import { redactString } from "../evidence/redact";
import { Runbook } from "../run/runbook";
import { hookKernel } from "./kernel";
import { type CellRun, type GuardedSink, guardSink, hiddenMarkers, recordSink } from "./sink";
import { KernelCopy } from "../evidence/outputs";
import { notStartedLines, rememberOpened, standingFor } from "./standing";
import { MACHINE_CLOCK, stepById } from "../run/steps";
import type { StepDef } from "../run/step-model";
import type { Params } from "../params";
import type { NotebookCells, RunOptions, Sink, TslabLike } from "./index";
import type { Outcome, StepResult } from "../types";

/** tslab behind the one door (sink.ts): every output redacted, raw HTML escaped, links checked. */
interface GuardedTslab {
  display: GuardedSink;
  newDisplay(): GuardedSink;
}

/** Also keeps the kernel's own copy of every output (outputs.jsonl) when a session is open. */
function guardTslab(t: TslabLike, run: CellRun | null): GuardedTslab {
  if (!run) return { display: guardSink(t.display), newDisplay: () => guardSink(t.newDisplay()) };
  return {
    display: guardSink(recordSink(t.display, run)),
    newDisplay: () => guardSink(recordSink(t.newDisplay(), run, run.copy.newDisplay())),
  };
}

/** The cell name the kernel's copy files a method's outputs under (lib/evidence/outputs.ts cellKeyOf). */
const CELL_OF: Record<string, string> = { pay: "pay", paid: "paid", paste: "paste", plot: "plot", report: "report" };

const OUTCOME_ICON: Record<Outcome, string> = { PASS: "✅", FAIL: "❌", PARTIAL: "⚠️" };

/** The id JupyterLab and nbconvert give a Markdown heading (`## 5. Poll …` → `5.-Poll-…`). */
export function headingAnchor(d: StepDef): string {
  return `${d.n}. ${d.title}`.replace(/`/g, "").trim().replace(/ /g, "-");
}

export class NotebookUi implements NotebookCells {
  readonly rb: Runbook | null;
  private readonly tslab: GuardedTslab;
  /** Under a "not started" banner: the refusal, then what the journal says about the money (./standing.ts). */
  private readonly notStarted: string[];
  private readonly outcome: Sink;
  private payLink: Sink | null = null;
  private progress: Sink | null = null;
  /** The poll line last shown, so the step's end can drop a next check that will not happen. */
  private lastPoll: Parameters<typeof pollLine> | null = null;
  /** The cell now running, for the kernel's copy of the outputs (null without a session). */
  private readonly cellRun: CellRun | null;
  private copyWarned = false;

  constructor(rb: Runbook | null, tslab: TslabLike, refusal: string | null = null, notStarted?: string[]) {
    this.rb = rb;
    if (rb) {
      const copy = new KernelCopy(rb.dir);
      this.cellRun = { copy, cell: "open", call: copy.begin("open") };
    } else this.cellRun = null;
    this.tslab = guardTslab(tslab, this.cellRun);
    this.notStarted = notStarted ?? [inertText(refusal ?? "the session did not open")];
    // papermill's habit: the outcome at the top, updated as steps end and by the report cell.
    this.outcome = this.tslab.newDisplay();
    this.outcome.markdown(
      refusal
        ? banner("🛑 Outcome: not started", this.notStarted)
        : "**Outcome:** ⏳ in progress — the report cell at the end sets it.",
    );
    if (!rb) return;
    hookKernel();
    rb.hooks.onPoll = (s, elapsed, deadline) => {
      // A fresh progress line for every run of a poll step (attempt 1), even of the same step.
      if (!this.progress || s.attempt === 1) this.progress = this.tslab.newDisplay();
      this.lastPoll = [s, elapsed, deadline];
      this.progress.markdown(pollLine(s, elapsed, deadline));
    };
  }

  /**
   * Runs the step with this id and shows its result; never throws. Returns nothing, because
   * tslab prints a cell's last value (the result is in the output and the journal).
   */
  async run(id: string, opts: RunOptions = {}): Promise<void> {
    this.begin(`run:${id}`);
    await this.guard(id, async (rb) => {
      // Dispatched through the table: the step's own `run` (issue 21 §1), no second map of ids.
      const def = rb.table.find((d) => d.id === id);
      if (!def) throw new RangeError(`no step "${id}"; steps are ${rb.table.map((d) => d.id).join(", ")}`);
      if (opts.reason !== undefined && !def.waitsFor)
        throw new RangeError(`step "${id}" takes no reason; only a step that waits for checks does (the refund)`);
      const r = await rb.run(id, opts);
      if (def.gate) this.showPreflight(r);
      else this.show(r);
      return null;
    });
  }

  /** Shows a step result; a FAIL gets a loud banner so it is seen even in a long notebook. */
  show(r: StepResult): void {
    const rb = this.rb;
    if (!rb) return;
    const d = this.tslab.display;
    const table = rb.table;
    if (r.status === "INTERRUPTED") {
      // Its cell was abandoned (Kernel ■) and shows tslab's one line; a display now would land in
      // whichever cell runs next. The progress line, if any, is updated in place instead.
      this.progress?.markdown(
        `⏹️ step ${r.step} interrupted at ${r.endedAt} (${MACHINE_CLOCK}) — run the cell again to resume`,
      );
      this.progress = null;
      this.lastPoll = null;
      return;
    }
    // A poll stopped early (another source said the target is unreachable) had planned one more check.
    const lp = this.lastPoll;
    if (lp && lp[0].step === r.step && lp[0].nextAt) {
      const { pauseMs: _p, nextAt: _n, ...s } = lp[0];
      this.progress?.markdown(pollLine(s, lp[1], lp[2]));
    }
    this.lastPoll = null;
    d.markdown(stepMarkdown(r, table));
    if (r.status === "FAIL")
      d.markdown(
        banner(`❌ Step ${r.step} FAILED — later steps that depend on it will be SKIPPED`, [inertText(r.reason ?? "")]),
      );
    // From the payment step up to the refund step, a step that did not pass leaves money out.
    const pay = table.find((x) => x.movesMoney);
    const refund = table.find((x) => x.returnsMoney);
    // It stays until a refund has SUCCEEDED (journal evidence), not merely been requested.
    if (r.status !== "PASS" && pay && refund && r.step >= pay.n && rb.moneyOutstanding) {
      // The captured amount (issue 23): what the orchestrator took, not what the order says.
      const captured = rb.capturedAmount;
      d.markdown(
        banner("💶 Money has moved", [
          ...(captured ? [`Money moved: **${formatAmount(captured.money)}** (${captured.source}).`] : []),
          r.step < refund.n
            ? `The payment went through. The refund step (${refund.n}) stays available: it acts once steps ${(refund.waitsFor ?? []).map((id) => stepById(id, table).n).join(", ") || "before it"} have run (a FAILED one is its recorded reason); to refund before, say why in its cell: \`await nb.run("${refund.id}", { reason: "…" });\`. Escalate what failed.`
            : `The payment was confirmed and ${rb.refundedSoFar ? "not all of it was refunded" : "no refund has succeeded yet"}. Follow the reason above (re-run step ${refund.n} after a failed refund, escalate a refund in review), or refund at the orchestrator.`,
          ...(rb.refundedSoFar ? [`So far: ${rb.refundedSoFar} — re-run step ${refund.n} to refund the rest.`] : []),
        ]),
      );
    }
    this.outcome.markdown(
      `**Outcome:** ⏳ in progress — last: step ${r.step} ${r.status} at ${r.endedAt} (${MACHINE_CLOCK}). The report cell at the end sets it.`,
    );
  }

  showPreflight(r: StepResult): void {
    this.show(r);
    const rep = this.rb?.preflightReport;
    if (!rep || !this.rb) return;
    const d = this.tslab.display;
    // Pre-flight's GETs were sent: what it can say is that no order was created and nothing charged.
    if (rep.refusals.length)
      d.markdown(
        banner("🛑 Pre-flight refused (NO-GO) — no order was created and nothing was charged", [
          ...rep.refusals.map((x) => `- ${inertText(x)}`),
          "",
          "Fix the refusal and run this cell again; no step will charge before pre-flight passes.",
        ]),
      );
    if (rep.warnings.length)
      d.markdown(
        banner(
          "⚠️ Warnings",
          rep.warnings.map((x) => `- ${inertText(x.message)}`),
        ),
      );
    // The charge reminder only on a GO: a NO-GO charges nothing.
    if (!rep.refusals.length)
      d.markdown(banner(this.rb.cfg.mode === "live" ? "💳 A REAL CARD WILL BE CHARGED" : "Reminder", [rep.reminder]));
  }

  /** Step 4, first half: amount and a clickable payment link (or the headless payer's result). */
  async pay(): Promise<void> {
    this.begin(CELL_OF.pay);
    await this.guard("pay", async (rb) => {
      const p = await rb.pay();
      const lines = [`**Amount:** ${p.amount}`];
      if (p.auto)
        lines.push(
          "",
          `Headless payer (${p.auto.via}): **${inertText(p.auto.status)}** · card •••• ${inertText(p.auto.last4)} · ${inertText(p.auto.connector ?? "?")}${p.auto.errorCode ? ` · ${inertText(p.auto.errorCode)}` : ""}`,
          "",
          inertText(p.note),
        );
      else if (!rb.moneyMoved) {
        // The link carries the checkout's client secret: shown in an updatable output, and
        // overwritten with a redacted copy once the paid cell confirms the payment.
        const link = this.tslab.newDisplay();
        this.payLink = link;
        link.link(
          `**Pay ${p.amount} on the hosted checkout →**`,
          p.paymentUrl,
          "\n\nThen fill in the paid cell below (last 4 digits and the connector shown on the checkout, nothing more) and run it.",
        );
      } else lines.push("", inertText(p.note));
      this.tslab.display.markdown(lines.join("\n"));
      return null;
    });
  }

  /** Step 4, second half ("paid" cell): PASS only on evidence that the payment happened. */
  async paid(seen: { last4?: string; processor?: string }): Promise<void> {
    this.begin(CELL_OF.paid);
    await this.guard("pay", async (rb) => {
      const r = await rb.confirmPaid(seen);
      if (r.status === "PASS")
        this.payLink?.markdown(`~~payment link~~ (redacted after confirmation at ${r.endedAt}, ${MACHINE_CLOCK})`);
      this.show(r);
      return null;
    });
  }

  /** Step 7 by hand: psql's output pasted by the operator (no DATABASE_URL). */
  async pasteTransfer(psqlOutput: string): Promise<void> {
    this.begin(CELL_OF.paste);
    await this.guard("transfer", async (rb) => {
      this.show(await rb.pasteTransfer(psqlOutput));
      return null;
    });
  }

  /**
   * Final cell: the session block computed from the evidence (journal and trace), written to the
   * session folder and shown once as Markdown, then the housekeeping reminders and the chain head
   * to anchor elsewhere. The outcome banner at the top is set from the same verdict.
   */
  async report(): Promise<void> {
    this.begin(CELL_OF.report);
    await this.guard("report", async (rb) => {
      const d = this.tslab.display;
      const docs = rb.cfg.docsDir;
      // The block is read from the folder on disk: nothing is shown or published from a journal
      // rewritten under this session (a step result edited by hand, re-chained).
      rb.journal.checkHeld();
      // An order with no payment recorded is looked at once more: the verdict must not say no money
      // moved when it was paid after step 4's last check.
      const seen = await rb.lastLook();
      if (seen)
        d.markdown(`**Last look** at order ${inertCode(rb.order?.id ?? "?")} before the verdict: ${inertText(seen)}.`);
      const p = publishReport(rb.dir, {
        docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
        checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
      });
      // What this cell is about to show, journaled first: both verifiers hold the notebook's block,
      // outcome line and banner to it, and `npm run verify` holds it to the journal before it.
      rb.journal.append("outcome_stated", {
        by: "report_cell",
        outcome: p.session.outcome,
        reason: p.session.reason,
        money_moved: p.session.evidence.moneyMoved,
      });
      // Once, as Markdown: every front end renders it (JupyterLab trusted or not, a forge's viewer);
      // the archive adds the escaped HTML rendering beside it for nbconvert (lib/host/archive.ts).
      // Its markers (the docs report's `<!-- session:… -->`) stay machine-readable but hidden.
      d.markdown(hiddenMarkers(p.session.markdown));
      if (p.housekeeping.length)
        d.markdown(["**Housekeeping**", ...p.housekeeping.map((h) => `- ${inertSentence(h)}`)].join("\n"));
      const outcome = p.session.outcome;
      const line = `**Outcome: ${OUTCOME_ICON[outcome]} ${outcome}**${p.session.reason ? ` — ${inertText(p.session.reason)}` : ""}`;
      d.markdown(
        `${line}\n\n**Trace chain head:** \`${rb.trace.head}\` (${rb.trace.seq} lines) — anchor it in the ticket or the commit message.`,
      );
      const first = p.session.evidence.steps.findIndex((r) => r?.status !== "PASS");
      const def = first >= 0 ? rb.table[first] : undefined;
      const link =
        outcome !== "PASS" && def
          ? `\n\nFirst step not passed: [step ${def.n} — ${def.title.replace(/`/g, "")}](#${headingAnchor(def)})`
          : "";
      this.outcome.markdown(
        banner(`${OUTCOME_ICON[outcome]} Outcome: ${outcome}`, [
          inertText(p.session.reason ?? ""),
          `${link ? link.trim() : ""}`,
          "Computed by the report cell at the end of this notebook from the journal and the trace.",
        ]),
      );
      return null;
    });
  }

  /** Poll latency plot, shown once as PNG (renders untrusted); PNG and SVG are saved in the session folder. */
  async plot(): Promise<void> {
    this.begin(CELL_OF.plot);
    await this.guard("plot", async (rb) => {
      // From the trace, like the report: after a kernel restart the polls of the earlier kernel count too.
      const out = renderPollPlot(loadEvidence(rb.dir, { table: rb.table }).samples, { table: rb.table });
      fs.writeFileSync(path.join(rb.dir, `${POLL_PLOT}.svg`), out.svg);
      fs.writeFileSync(path.join(rb.dir, `${POLL_PLOT}.png`), out.png);
      this.tslab.display.png(out.png);
      return null;
    });
  }

  /** A new run of the cell named `cell`: its outputs are filed under it in the kernel's copy. */
  private begin(cell: string): void {
    const r = this.cellRun;
    if (!r) return;
    r.cell = cell;
    r.call = r.copy.begin(cell);
    // Said once: without its copy, only the saved notebook can show what this kernel displayed.
    if (r.copy.failed && !this.copyWarned) {
      this.copyWarned = true;
      this.tslab.display.markdown(
        banner("⚠️ The kernel's copy of the outputs could not be written", [
          `${OUTPUTS_FILE}: ${r.copy.failed}`,
          "Save the notebook (File › Save) before you close it: the archive cannot restore outputs it has no copy of.",
        ]),
      );
    }
  }

  /** The session line of the open cell, through the same door as every other output. */
  showOpened(md: string): void {
    this.tslab.display.markdown(md);
  }

  /**
   * Runs `f` with the runbook; anything it throws is shown as one redacted line and swallowed, so
   * the cell ends normally and the next cell runs (tslab drops its queue on a throwing cell).
   */
  private async guard<T>(what: string, f: (rb: Runbook) => Promise<T | null>): Promise<T | null> {
    const d = this.tslab.display;
    if (!this.rb) {
      d.markdown(banner("⏭️ Not started", this.notStarted));
      return null;
    }
    try {
      return await f(this.rb);
    } catch (err) {
      const label = (() => {
        try {
          const def = stepById(what, this.rb.table);
          return `Step ${def.n} (${def.name})`;
        } catch {
          return `The ${what} cell`;
        }
      })();
      d.markdown(
        banner(`❌ ${label} could not run`, [
          inertText(oneLine(err)),
          "",
          "Nothing else was done by this cell. The next cells still run; a step that needs this one is SKIPPED.",
        ]),
      );
      return null;
    }
  }
}

/**
 * Opens the session named by the parameters and binds it to the notebook. A bad parameter is
 * shown as one line naming the variable and the fix; every later cell then says "not started"
 * instead of throwing (nothing is sent, no money moves).
 */
export function openNotebook(params: Params, tslab: TslabLike): NotebookUi {
  let rb: Runbook;
  try {
    rb = Runbook.open(params);
  } catch (err) {
    const reason = redactString(oneLine(err));
    // What it says about the money comes from the session's journal (issue 22 §5), never from this cell.
    const lines = notStartedLines(inertText(reason), err, standingFor(params)).map((l) => redactString(l));
    guardSink(tslab.display).markdown(banner("🛑 Cannot start", lines));
    return new NotebookUi(null, tslab, reason, lines);
  }
  rememberOpened(rb.dir);
  // The live gate judges a staging dry run's outcome with the report's derivation (lib/run cannot import it).
  rb.judge = outcomeJudge;
  rb.warmPayer();
  const ui = new NotebookUi(rb, tslab);
  const lines = [
    `**Session** ${inertCode(rb.cfg.sessionId)} · mode **${rb.cfg.mode}** · ${inertText(rb.cfg.baseUrl)} · folder ${inertCode(rb.dir)}`,
  ];
  const resumed = rb.resumeSummary();
  if (resumed.length)
    lines.push(
      "",
      "**Resuming this session** (nothing will be created twice):",
      ...resumed.map((s) => `- ${inertText(s)}`),
    );
  ui.showOpened(lines.join("\n"));
  return ui;
}
