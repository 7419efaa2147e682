/**
 * What a step's `run(ctx)` is given (issue 21 §1): the session's services (clients, journal,
 * trace, signal, anomalies), its own declaration and table (for messages that name steps), the
 * facts object it fills, and typed reads of the state earlier steps left: the facts of the steps
 * it requires, and the order, product and payment as the journal recorded them. Types only: the
 * session builds the context (lib/run/session.ts), the steps use it (lib/run/steps/).
 */
import type { Config } from "../config";
import type { ProductT } from "../contract";
import type { ApiClient } from "../clients/http";
import type { PayResult } from "../clients/payer";
import type { Journal } from "../evidence/journal";
import type { Trace } from "../evidence/trace";
import type { Anomaly, Facts, StepResult, StepStatus } from "../types";
import type { PollOutcome, Probe } from "./poll";
import type { PreflightReport } from "./preflight";
import type { OutcomeJudge } from "../evidence/seal-trust";
import type { StepDef, StepTable } from "./step-model";

export type Observed = StepResult["observed"];

/** What a step body returns; throwing means FAIL with the error's one-line message. */
export interface StepOutcome {
  status?: StepStatus;
  reason?: string;
}

/**
 * How a step is run: `skip` SKIPs it with that reason; `reason` is the operator's word for acting
 * early (`waitsFor`). The rest is what a cell hands its step: the paid cell's card digits and the
 * pay cell's headless payment, psql's pasted output, and where pre-flight shows its report.
 */
export interface StepOptions {
  skip?: string;
  reason?: string;
  /** The paid cell: what the operator saw on the checkout (only the last 4 digits, ever). */
  seen?: { last4?: string; processor?: string };
  /** The pay cell's headless payment in this kernel, if it ran one. */
  auto?: PayResult | null;
  /** The transfer step by hand: psql's output pasted by the operator. */
  pasted?: string;
  /** Pre-flight hands its whole report here (refusals, warnings, the charge reminder) for display. */
  onReport?: (rep: PreflightReport) => void;
  /** Pre-flight's judge of a dry run's outcome, handed down by the notebook (lib/report/outcome-check.ts). */
  judge?: OutcomeJudge;
}

/** The order as the journal recorded it at creation (id, payment link, amount). */
export interface JournalOrder {
  id: string;
  paymentId: string;
  paymentUrl: string;
  totalMinor: number;
  currency: string;
}

/** The session's services a step or a non-step operation (the pay cell, the last look) uses. */
export interface Services {
  readonly cfg: Config;
  readonly api: ApiClient;
  /** Orchestrator client, only when HYPERSWITCH_URL and HYPERSWITCH_API_KEY are both set. */
  readonly hs: ApiClient | null;
  readonly journal: Journal;
  readonly trace: Trace;
  readonly table: StepTable;
  /** The running step's signal (undefined between steps). */
  readonly signal: AbortSignal | undefined;
  /** The running step's number, for anomalies (null between steps). */
  readonly currentStep: number | null;
  anomaly(a: Omit<Anomaly, "at"> & { at?: string }): void;
}

/** A poll as a step asks for it; the session keeps its samples and shows its progress. */
export interface PollRequest {
  what: string;
  deadlineS: number;
  probe: () => Promise<Probe>;
  done: (s: string) => boolean;
  hopeless?: (s: string) => string | null;
  stop?: () => Promise<string | null>;
}

export interface StepContext extends Services {
  /** This step's declaration (its number and name, for messages). */
  readonly def: StepDef;
  /** The facts this run records; what is in it when the step FAILs is journaled too. */
  readonly facts: Observed;
  readonly opts: StepOptions;
  /** The prefix of this session's Idempotency-Keys. */
  readonly keyPrefix: string;
  /** The parameters the last passed pre-flight pinned, and when (null before one passed). */
  readonly pinned: { params: Record<string, string>; at: string } | null;
  /** Now, as ISO UTC (the clock steps stamp their own records with). */
  now(): string;
  /** The facts recorded by the latest run of a step this one requires (directly or not). */
  factsOf(id: string): Facts | undefined;
  /** The order the order step created (journal); a RunbookError naming that step when there is none. */
  order(): JournalOrder;
  /** The product the product step selected (journal); a RunbookError naming that step when there is none. */
  product(): ProductT;
  /** Polls until done, hopeless, stopped or past the deadline; samples are kept by the session. */
  poll(req: PollRequest): Promise<PollOutcome>;
}
