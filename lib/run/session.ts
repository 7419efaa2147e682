/**
 * A runbook session: its folder under archive/, state journal, hash-chained trace, HTTP clients,
 * and the machinery that runs a step of the table by id (`def.run(ctx)`, ./steps.ts) into a typed
 * StepResult (prerequisites, trace range, UTC times, journal entry). Opening an existing session
 * resumes it; a sealed one is refused. No step behaviour lives here (issue 21 §1).
 * Over 300 lines: the step machinery, the one-active-step registry, the two gates every step
 * passes (parameters pinned at pre-flight, the checks a refund waits for) and what a step is given
 * (its context, and the poll whose samples and deadline the session keeps) share its state.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Config, paramChanges, pinnedParams } from "../config";
import { dsnPasswords } from "../dsn";
import { GuardError, InterruptedError, oneLine, SessionError, StateError, StepDeadlineError } from "../errors";
import { ApiClient, logIn } from "../clients/http";
import { Journal, latestStepResults, newSessionId, nowIso, pinnedParameters, sessionDir } from "../evidence/journal";
import { ledgerOf, moneyMoved, moneyOutstanding, refundedText } from "./ledger";
import { MANIFEST_FILE, TRACE_FILE } from "../evidence/files";
import { secrets } from "../evidence/secrets";
import { acquireSessionLock, releaseSessionLock } from "./lock";
import { STEPS, awaitedChecks, blockedBy, machineClock, stepById } from "./steps";
import { factsSchema, type StepDef, type StepTable } from "./step-model";
import { Trace } from "../evidence/trace";
import { readTrace } from "../evidence/chain";
import type { ProductT } from "../contract";
import { journalOrder, journalProduct, requireOrder, stepNo } from "./steps/orders";
import { pollUntil, type PollOutcome } from "./poll";
import type { Observed, PollRequest, StepContext, StepOptions, StepOutcome } from "./step-context";
import type { Anomaly, Facts, Mode, PollSample, StepResult, StepStatus } from "../types";

export type { Observed, StepOptions, StepOutcome } from "./step-context";

export interface RunbookHooks {
  /** Called after every poll attempt; the notebook updates one line in place. */
  onPoll?: (s: PollSample, elapsedS: number, deadlineS: number) => void;
}

/** A step body: the step's own `run` unless a test hands one in. */
// biome-ignore lint/suspicious/noConfusingVoidType: a step body returns an outcome, or nothing for PASS
export type StepBody = (ctx: StepContext) => Promise<StepOutcome | void>;

/** The step running in a session folder: one per session, across every Runbook of this process. */
interface ActiveStep {
  n: number;
  controller: AbortController;
  settled: Promise<void>;
}
const ACTIVE = new Map<string, ActiveStep>();
/**
 * Step wall-clock limits. `otherS`: a step that does not poll (a poll step gets its own deadline plus
 * `pollExtraS`). `unwindMs`: how long a stopped step may take to unwind, before the next one starts
 * anyway, and before a stopped step (past its deadline, or interrupted) is recorded without waiting
 * for its body any longer (a body that ignores its signal cannot hold the cell).
 */
export const STEP_LIMITS = { otherS: 5 * 60, pollExtraS: 60, unwindMs: 5 * 1000 };

/**
 * The body's outcome, or the abort's reason once the step is stopped (past its deadline, Kernel ■, or
 * superseded) and the body has had `unwindMs` to stop on its own: a well-behaved body ends sooner,
 * with its own reason; one that ignores its signal is abandoned, and the step records its verdict.
 */
function withinDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const abandon = new Promise<never>((_resolve, reject) => {
    const onAbort = () => {
      timer = setTimeout(() => reject(signal.reason), STEP_LIMITS.unwindMs);
      timer.unref?.();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([work, abandon]).finally(() => clearTimeout(timer));
}

/**
 * Stops every running step of this process (the kernel's SIGINT: Kernel ■ in Jupyter). Each one
 * records INTERRUPTED with `reason` and writes nothing after that. Returns the steps stopped.
 */
export function interruptAll(reason: string): number[] {
  const stopped: number[] = [];
  for (const a of ACTIVE.values()) {
    if (a.controller.signal.aborted) continue;
    a.controller.abort(new InterruptedError(reason));
    stopped.push(a.n);
  }
  return stopped;
}

/** The shortest written reason accepted for acting before the awaited checks (like archive's --reseal). */
export const MIN_REASON = 10;

export class Session {
  readonly cfg: Config;
  readonly dir: string;
  readonly journal: Journal;
  readonly trace: Trace;
  readonly api: ApiClient;
  /** Orchestrator client, only when HYPERSWITCH_URL and HYPERSWITCH_API_KEY are both set. */
  readonly hs: ApiClient | null;
  /** The step table this session runs (the one declaration of the steps; a test may hand a copy). */
  readonly table: StepTable;
  /** The latest result of each step, by step id (as the journal has them). */
  readonly results = new Map<string, StepResult>();
  hooks: RunbookHooks = {};
  readonly anomalies: Anomaly[] = [];
  readonly samples: PollSample[] = [];
  /** Set while a step runs, so anomalies raised by the client are attributed to it. */
  currentStep: number | null = null;
  /** The running step's signal: the clients, the poller and the database read are cancelled with it. */
  private stepSignal: AbortSignal | undefined;
  /** When the running poll must end (performance.now() ms), or null outside a poll. */
  protected pollEndsAt: number | null = null;
  /** True when this kernel found earlier work in the journal. */
  readonly resumed: boolean;

  constructor(cfg: Config, table: StepTable = STEPS) {
    this.cfg = cfg;
    this.table = table;
    this.dir = sessionDir(cfg.archiveDir, cfg.sessionId);
    // Secrets are registered before anything is written, so the first line is already redacted.
    secrets.add(cfg.operatorPassword, "OPERATOR_PASSWORD");
    secrets.add(cfg.hyperswitchApiKey, "HYPERSWITCH_API_KEY");
    for (const pw of cfg.databaseUrl ? dsnPasswords(cfg.databaseUrl) : []) secrets.add(pw, "DATABASE_URL password");
    // A sealed folder is read-only to the tool: a kernel re-opened on it would append to the trace.
    if (fs.existsSync(path.join(this.dir, MANIFEST_FILE)))
      throw new SessionError(
        `session ${cfg.sessionId} is sealed (manifest.json): nothing is added to a sealed folder — start a new session with \`npm run session -- --mode ${cfg.mode}\`${cfg.mode === "sandbox" ? "" : ", and settle an open refund at the orchestrator"}`,
      );
    const stale = acquireSessionLock(this.dir, cfg.sessionId);
    this.journal = Journal.open(this.dir);
    this.trace = Trace.open(path.join(this.dir, TRACE_FILE));
    if (stale)
      this.trace.append("note", {
        event: "session lock taken over",
        previous_holder: stale,
        why: "its kernel is gone (killed or crashed)",
      });
    // The orchestrator's key, as a salted hash in the folder: the archive may run without it in its env.
    if (cfg.hyperswitchApiKey) secrets.learn(cfg.hyperswitchApiKey, "HYPERSWITCH_API_KEY", this.dir);
    this.resumed = this.journal.all().length > 1;
    for (const [id, r] of latestStepResults(this.journal.all())) this.results.set(id, r);
    const onAnomaly = (a: Omit<Anomaly, "at">) => this.anomaly({ ...a, step: a.step ?? this.currentStep });
    const signal = () => this.stepSignal;
    // During a poll no call outlives the poll's deadline (a body that drips would otherwise hold it).
    const callBudgetMs = () =>
      this.pollEndsAt === null ? undefined : Math.max(1000, this.pollEndsAt - performance.now());
    this.api = new ApiClient(cfg.baseUrl, {
      trace: this.trace,
      onAnomaly,
      signal,
      reauth: () => this.reauth(),
      callBudgetMs,
      loginHint: `run ${stepNo(this.table, "login")} (login)`,
    });
    this.hs =
      cfg.hyperswitchUrl && cfg.hyperswitchApiKey
        ? new ApiClient(cfg.hyperswitchUrl, { trace: this.trace, onAnomaly, signal, callBudgetMs })
        : null;
    this.trace.append("session", {
      event: this.resumed ? "resumed" : "opened",
      session_id: cfg.sessionId,
      mode: cfg.mode,
      base_url: cfg.baseUrl,
      pid: process.pid,
      // The kernel's runtime, for the auditor (README "Runtime": Node 24 LTS; >= 22.19 supported).
      node: process.version,
    });
    // A journal write cut short by a killed kernel is set aside now, and the anomaly recorded here.
    this.journal.onRepair = (r) => this.anomaly({ step: null, kind: "warning", message: r.message });
    this.journal.repairTail();
    // The operator's free text goes into the report's anomalies section; recorded once per change.
    if (
      cfg.operatorNotes &&
      !readTrace(this.trace.file).some(
        (e) => e.type === "note" && (e.payload as { text?: string })?.text === cfg.operatorNotes,
      )
    ) {
      this.trace.append("note", { source: "operator", text: cfg.operatorNotes });
    }
  }

  /** Creates the folder and journal of a fresh session. Explicit by design: opening never creates. */
  static create(mode: Mode, archiveDir: string, extra: Record<string, unknown> = {}, at = new Date()): string {
    fs.mkdirSync(archiveDir, { recursive: true });
    // The folder is claimed atomically (mkdir fails if it exists): two sessions created in the same
    // second, by one process or two, get distinct ids instead of one journal.
    for (let attempt = 0; ; attempt++) {
      const sessionId = newSessionId(mode, at, attempt === 0 ? "" : crypto.randomBytes(2).toString("hex"));
      const dir = sessionDir(archiveDir, sessionId);
      try {
        fs.mkdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST" && attempt < 8) continue;
        throw err;
      }
      // The nonce makes the session's Idempotency-Keys its own: the buyer account is shared, and the
      // same id can be created in another clone in the same second.
      const nonce = crypto.randomBytes(8).toString("hex");
      Journal.create(dir, { sessionId, mode, created_at: at.toISOString(), nonce, ...extra });
      return sessionId;
    }
  }

  /**
   * The prefix of this session's Idempotency-Keys: its id and the nonce journaled at creation (a
   * journal written before the nonce existed keeps its id alone, so a resumed session keeps its keys).
   */
  get keyPrefix(): string {
    const created = this.journal.all()[0];
    const nonce = created?.kind === "session_created" ? created.data.nonce : undefined;
    return typeof nonce === "string" && nonce ? `${this.cfg.sessionId}:${nonce}` : this.cfg.sessionId;
  }

  /** Records an anomaly in memory and, as evidence, in the trace (the report reads it from there). */
  anomaly(a: Omit<Anomaly, "at"> & { at?: string }): void {
    const full: Anomaly = { ...a, at: a.at ?? nowIso() };
    this.trace.append("anomaly", full);
    full.traceLine = this.trace.seq;
    this.anomalies.push(full);
  }

  /** The running step's signal (undefined between steps). */
  get signal(): AbortSignal | undefined {
    return this.stepSignal;
  }

  /** Stops this session's running step, if any (it records INTERRUPTED). True when one was running. */
  interrupt(reason: string): boolean {
    const a = ACTIVE.get(this.dir);
    if (!a || a.controller.signal.aborted) return false;
    a.controller.abort(new InterruptedError(reason));
    return true;
  }

  /**
   * A call needs a token this kernel does not hold (restarted after the login step passed) or the server
   * refused the one it had: log in again, traced like the login step's call. Only once that step has
   * passed in this session; never in place of it.
   */
  protected async reauth(): Promise<boolean> {
    const login = this.results.get("login");
    if (login?.status !== "PASS" || !this.cfg.operatorPassword) return false;
    this.trace.append("note", {
      step: this.currentStep,
      event: this.api.token
        ? "the server refused the access token: logging in again once"
        : `no access token in this kernel (${stepNo(this.table, "login")} passed at ${login.endedAt}, before a kernel restart): logging in again once`,
    });
    this.api.token = null;
    try {
      await logIn(this.api, { email: this.cfg.operatorEmail, password: this.cfg.operatorPassword });
      return true;
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      this.anomaly({ step: this.currentStep, kind: "warning", message: `logging in again failed: ${oneLine(err)}` });
      return false;
    }
  }

  /** Money left the operator's card (the journal's one predicate, shared with the report). */
  get moneyMoved(): boolean {
    return moneyMoved(this.journal.all());
  }

  /** Money moved and not all of it came back yet, by amount (requested is not enough): the refund stays in sight. */
  get moneyOutstanding(): boolean {
    return moneyOutstanding(this.journal.all());
  }

  /** "0.01 EUR of 5.00 EUR refunded (4.99 EUR outstanding)" once any refund succeeded, else null (the ledger's words). */
  get refundedSoFar(): string | null {
    const l = ledgerOf(this.journal.all());
    return l.refunded > 0 ? refundedText(l) : null;
  }

  /** The order as the journal knows it (id, payment link, amount), or null before one was created. */
  get order(): { id: string; paymentId: string; paymentUrl: string; totalMinor: number; currency: string } | null {
    return journalOrder(this.journal);
  }

  /**
   * Runs one step: checks prerequisites (SKIPPED with the reason when one did not pass), brackets
   * the work with step_start/step_end trace events, and journals the result before returning it.
   * One step runs at a time per session: starting a step stops the one still running (an
   * interrupted cell's work continues in the kernel otherwise) and waits for it to record
   * INTERRUPTED. A stopped step records INTERRUPTED, never PASS or FAIL.
   */
  async runStep(id: string, opts: StepOptions = {}, body?: StepBody): Promise<StepResult> {
    const def = stepById(id, this.table);
    const n = def.n;
    // The gate (pre-flight) pins the parameters; every other step runs with them or not at all.
    if (!def.gate) this.checkPinned(`step ${n}`);
    const previous = ACTIVE.get(this.dir);
    if (previous) {
      if (!previous.controller.signal.aborted)
        previous.controller.abort(new InterruptedError(`superseded: step ${n} was started while it ran`));
      await Promise.race([previous.settled, new Promise((r) => setTimeout(r, STEP_LIMITS.unwindMs).unref?.())]);
    }
    const controller = new AbortController();
    let settle = () => {};
    const mine: ActiveStep = { n, controller, settled: new Promise<void>((r) => (settle = r)) };
    ACTIVE.set(this.dir, mine);
    // Nothing outlives the step's wall-clock deadline: its calls, pauses and reads are cancelled.
    const limitS = this.stepDeadlineS(def);
    const deadline = setTimeout(() => controller.abort(new StepDeadlineError(n, limitS)), limitS * 1000);
    deadline.unref?.();
    try {
      return await this.runActive(def, body ?? def.run, controller.signal, opts);
    } finally {
      clearTimeout(deadline);
      if (ACTIVE.get(this.dir) === mine) ACTIVE.delete(this.dir);
      settle();
    }
  }

  /**
   * A step's wall-clock deadline in seconds: a poll step's own deadline plus a minute for its last
   * attempt and cross-checks; any other step STEP_LIMITS.otherS (a person may be paying in step 4's
   * browser, but the cell itself only checks).
   */
  private stepDeadlineS(def: StepDef): number {
    return def.poll
      ? Math.max(this.cfg.pollDeadlineS, this.cfg.refundDeadlineS) + STEP_LIMITS.pollExtraS
      : STEP_LIMITS.otherS;
  }

  private async runActive(def: StepDef, body: StepBody, signal: AbortSignal, opts: StepOptions): Promise<StepResult> {
    const n = def.n;
    const prior = this.results.get(def.id);
    if (def.finalOnPass && prior?.status === "PASS") {
      this.trace.append("note", {
        step: n,
        event: `step ${n} already passed at ${prior.endedAt}; kept as recorded (trace L${prior.trace?.from}–L${prior.trace?.to})`,
      });
      return { ...prior, observed: { ...prior.observed, resumed: `passed at ${prior.endedAt}, kept as recorded` } };
    }
    const startedAt = nowIso();
    const m0 = performance.now();
    const from = this.trace.seq + 1;
    this.trace.append("step_start", { step: n, name: def.name });
    const observed: Observed = {};
    let status: StepStatus = "PASS";
    let reason: string | undefined;
    const blocked =
      opts.skip ??
      def.skipReason?.(this.cfg) ??
      blockedBy(def.id, this.results, this.table, { moved: this.moneyMoved }) ??
      this.awaiting(def, observed, opts);
    this.currentStep = n;
    this.stepSignal = signal;
    try {
      if (blocked) {
        status = "SKIPPED";
        reason = blocked;
      } else {
        const out: StepOutcome = (await withinDeadline(body(this.context(def, observed, opts)), signal)) || {};
        status = out.status ?? "PASS";
        reason = out.reason;
      }
    } catch (err) {
      status = "FAIL";
      reason = oneLine(err);
    } finally {
      this.currentStep = null;
      this.stepSignal = undefined;
    }
    // Past its wall-clock deadline: a verdict (FAIL), whatever the body got to.
    if (signal.aborted && !blocked && signal.reason instanceof StepDeadlineError) {
      status = "FAIL";
      reason = `${signal.reason.message}${reason && !reason.includes(signal.reason.message) ? ` (${reason})` : ""}`;
    }
    // Stopped (Kernel ■, or another step started): whatever the body got to, this is no verdict.
    else if (signal.aborted && !blocked) {
      status = "INTERRUPTED";
      reason = `${oneLine(signal.reason)} at ${machineClock(nowIso())}; nothing more is recorded for this run — run the cell again to resume`;
    }
    // Facts are data of the declared shape: a step that recorded anything else has a bug and
    // must not PASS on it (the report validates the same schema when it reads the journal back).
    const checked = factsSchema(def).safeParse(observed);
    if (!checked.success) {
      const i = checked.error.issues[0];
      status = "FAIL";
      reason = `step ${n} recorded a fact outside the step table (${i.path.join(".") || "(facts)"}: ${i.message}); this is a runbook bug — report it${reason ? `; ${reason}` : ""}`;
      // Only facts of the declared shape are journaled, so the report can always read this session.
      for (const issue of checked.error.issues) delete observed[String(issue.path[0])];
      for (const k of Object.keys(observed)) if (!(k in def.facts)) delete observed[k];
    }
    const endedAt = nowIso();
    const result: StepResult = {
      step: n,
      id: def.id,
      name: def.name,
      status,
      observed,
      reason,
      trace: null,
      startedAt,
      endedAt,
      durationMs: Math.round(performance.now() - m0),
    };
    this.trace.append("step_end", { step: n, status, reason: reason ?? null, observed });
    result.trace = { from, to: this.trace.seq };
    this.results.set(def.id, result);
    this.journal.append("step_result", result);
    return result;
  }

  /** The parameters the last passed pre-flight pinned, and when (null before one passed). */
  get pinned(): { params: Record<string, string>; at: string } | null {
    return pinnedParameters(this.journal.all());
  }

  /**
   * Issue 22 §4: refuses (GuardError, nothing sent) to run `what` with MODE, BASE_URL, PRODUCT,
   * MAX_PRICE, REFUND, HYPERSWITCH_URL or the API key's prefix changed since pre-flight pinned them, naming the change; the refusal is
   * recorded as an anomaly (the report lists it). Running pre-flight again pins the new values (and records the change).
   */
  checkPinned(what: string): void {
    const pin = this.pinned;
    const changes = pin ? paramChanges(pin.params, pinnedParams(this.cfg)) : [];
    if (!pin || !changes.length) return;
    // An anomaly, not a note: the report lists it even when the parameter is then set back and
    // pre-flight never re-pins it. No step: it is the operator's, never a refund-flow oddity.
    this.anomaly({
      step: null,
      kind: "operator",
      message: `${what} refused, nothing sent: parameters changed since the pre-flight of ${machineClock(pin.at)}: ${changes.join(", ")}`,
    });
    throw new GuardError(
      "parameters",
      `${changes.join(", ")} since the pre-flight of ${machineClock(pin.at)} — set ${changes.length > 1 ? "them" : "it"} back in the parameters cell, or run pre-flight again to pin the new value (the change is recorded as an anomaly)`,
    );
  }

  /**
   * Issue 22 §3: once money moved, a step with `waitsFor` (the refund) does not act before those
   * checks had their chance. Returns why it waits (SKIPPED), or null; when it acts early it records
   * why in its facts (`before_checks`): the check that FAILED, or the operator's written reason (also
   * an anomaly, so the report shows it). A step that already acted in this session does not wait again.
   */
  private awaiting(def: StepDef, observed: Observed, opts: StepOptions): string | null {
    if (!def.waitsFor?.length || !this.moneyMoved) return null;
    const acted = this.journal
      .all()
      .some((e) => e.kind === "step_result" && e.data.id === def.id && ["PASS", "FAIL"].includes(e.data.status));
    if (acted) return null;
    const w = awaitedChecks(def.id, this.results, this.table);
    if (w.failed) observed.before_checks = `after ${w.failed}`;
    if (!w.wait) return null;
    const steps = def.waitsFor.map((id) => stepById(id, this.table).n).join(", ");
    const why = opts.reason?.trim() ?? "";
    const how = `say why in this cell: \`await nb.run("${def.id}", { reason: "…" });\``;
    if (why.length < MIN_REASON)
      return `${w.wait}: step ${def.n} waits for steps ${steps}, so they are still checked on this payment — run them first (a SKIPPED step says what it needs), or to run it now, ${why ? `give a reason in words (at least ${MIN_REASON} characters, not ${JSON.stringify(why)}): ` : ""}${how}`;
    observed.before_checks = `operator: ${why} (${w.wait})`;
    this.trace.append("operator_ack", {
      step: def.n,
      event: `step ${def.n} before steps ${steps} passed`,
      reason: why,
    });
    this.anomaly({
      step: def.n,
      kind: "operator",
      message: `step ${def.n} ran before steps ${steps} passed (${w.wait}); the operator's reason: ${why}`,
    });
    return null;
  }

  /**
   * What the running step is given (./step-context.ts): the session's services, its declaration,
   * the facts it fills, and typed reads of what earlier steps left (their facts, the journal).
   */
  private context(def: StepDef, facts: Observed, opts: StepOptions): StepContext {
    const session = this;
    const required = new Set<string>();
    const add = (id: string) => {
      for (const r of [...stepById(id, this.table).requires, ...(stepById(id, this.table).waitsFor ?? [])])
        if (!required.has(r)) {
          required.add(r);
          add(r);
        }
    };
    add(def.id);
    return {
      def,
      facts,
      opts,
      cfg: this.cfg,
      api: this.api,
      hs: this.hs,
      journal: this.journal,
      trace: this.trace,
      table: this.table,
      get signal() {
        return session.signal;
      },
      get currentStep() {
        return session.currentStep;
      },
      get keyPrefix() {
        return session.keyPrefix;
      },
      get pinned() {
        return session.pinned;
      },
      anomaly: (a) => this.anomaly(a),
      now: nowIso,
      factsOf: (id: string): Facts | undefined => {
        if (!required.has(id))
          throw new RangeError(`step ${def.id} reads the facts of ${id}, which it does not require (step table)`);
        return this.results.get(id)?.observed;
      },
      order: () => requireOrder(this.journal, this.table),
      product: (): ProductT => {
        const p = journalProduct(this.journal);
        if (!p) throw new StateError(`no product selected in this session: run ${stepNo(this.table, "product")} first`);
        return p;
      },
      poll: (req) => this.poll(req),
    };
  }

  /**
   * A poll of the running step: its samples and their anomalies are kept as they arrive, so a poll
   * stopped by an error (schema drift) still shows its attempts in the plot and the report.
   */
  private async poll(req: PollRequest): Promise<PollOutcome> {
    const step = this.currentStep ?? -1;
    const { deadlineS } = req;
    const onSample = (s: PollSample, elapsed: number) => {
      this.samples.push(s);
      if (s.httpStatus !== null && s.httpStatus >= 500)
        this.anomaly({ at: s.at, step, kind: "http_5xx", message: `poll attempt ${s.attempt}: HTTP ${s.httpStatus}` });
      // A schema mismatch is recorded once, as `schema`, by the client: never again as `network`.
      else if (s.httpStatus === null && s.errorKind !== "schema")
        this.anomaly({
          at: s.at,
          step,
          kind: "network",
          message: `poll attempt ${s.attempt}: ${s.error ?? "network error"}`,
        });
      this.hooks.onPoll?.(s, elapsed, deadlineS);
    };
    // A probe's call ends with the poll's deadline (plus a second for the last answer to land).
    this.pollEndsAt = performance.now() + deadlineS * 1000 + 1000;
    try {
      return await pollUntil({ step, ...req, trace: this.trace, onSample, signal: this.signal });
    } finally {
      this.pollEndsAt = null;
    }
  }

  async close(): Promise<void> {
    releaseSessionLock(this.dir);
    await this.api.close();
    await this.hs?.close();
  }
}

/** The password part of a postgres:// DSN, to register as a secret. */
export function dsnPassword(dsn: string): string | undefined {
  try {
    return decodeURIComponent(new URL(dsn).password) || undefined;
  } catch {
    return undefined;
  }
}
