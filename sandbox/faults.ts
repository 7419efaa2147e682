import { z } from "zod";

/** Where a paid payment ends up, instead of `succeeded` (Hyperswitch IntentStatus values). */
export const PAYMENT_OUTCOMES = [
  "succeeded",
  "requires_capture",
  "partially_captured",
  "cancelled",
  "expired",
  "requires_customer_action",
] as const;
/** What a void (POST /payments/:id/cancel) of a held payment does: Hyperswitch turns a failed void into `failed`. */
export const VOID_OUTCOMES = ["cancelled", "failed"] as const;
/** Where a refund ends up: `review` is Hyperswitch's manual review, which raises no webhook. */
export const REFUND_OUTCOMES = ["succeeded", "failed", "review"] as const;

export interface Faults {
  completionDelayMs: number;
  completionJitterMs: number;
  refundDelayMs: number;
  refundJitterMs: number;
  latencyMs: number;
  latencySpikeMs: number;
  latencySpikeRate: number;
  errorRate: number;
  retryAfterS: number;
  resetRate: number;
  stuckProcessing: boolean;
  webhookDuplicate: boolean;
  webhookOutOfOrder: boolean;
  schemaDrift: boolean;
  statusEnvironment: "staging" | "production";
  hyperswitchStatus: "enabled" | "degraded" | "disabled";
  hyperswitchMode: "sandbox" | "live";
  dbDown: boolean;
  paymentOutcome: (typeof PAYMENT_OUTCOMES)[number];
  refundOutcome: (typeof REFUND_OUTCOMES)[number];
  webhookTimeScale: number;
  webhookFailCount: number;
  /** The marketplace applies this many deliveries, then answers 503 (its answer "lost"): the retry is a true duplicate. */
  webhookFailAfterApplyCount: number;
  /** The processor settles payments and refunds without telling the orchestrator: only a `force_sync` read syncs them. */
  processorSilent: boolean;
  /** Added by the orchestrator to the order's amount (`net_amount` = amount + surcharge), and captured. */
  surchargeMinor: number;
  /** What `partially_captured` captures (`amount_received`); 0 = half the amount. */
  partialCaptureMinor: number;
  voidOutcome: (typeof VOID_OUTCOMES)[number];
  /** The next refund refunds only this many minor units, whatever was asked (0: off; used once). */
  partialRefundCents: number;
  /** Every refund returns this many minor units more than asked, past the captured amount (a backend bug). */
  overRefundCents: number;
  /** The seller_transfers row is written this many minor units off the order's split (a payout bug). */
  transferDeltaCents: number;
  /** A full refund leaves the seller transfer paid (not reversed): a payout bug. */
  transferNotReversed: boolean;
  /** A full refund reverses only this many minor units of the seller transfer, its status 'reversed' all the same (0: the whole transfer; a payout bug). */
  transferReversedCents: number;
}

export const DEFAULT_FAULTS: Faults = {
  completionDelayMs: 1500,
  completionJitterMs: 0,
  refundDelayMs: 1500,
  refundJitterMs: 0,
  latencyMs: 0,
  latencySpikeMs: 0,
  latencySpikeRate: 0,
  errorRate: 0,
  retryAfterS: 1,
  resetRate: 0,
  stuckProcessing: false,
  webhookDuplicate: false,
  webhookOutOfOrder: false,
  schemaDrift: false,
  statusEnvironment: "staging",
  hyperswitchStatus: "enabled",
  hyperswitchMode: "sandbox",
  dbDown: false,
  paymentOutcome: "succeeded",
  refundOutcome: "succeeded",
  // Hyperswitch's retry schedule (60 s, then 5 min, 10 min, 1 h, 6 h) times this: 60 s -> 6 ms.
  webhookTimeScale: 0.0001,
  webhookFailCount: 0,
  webhookFailAfterApplyCount: 0,
  processorSilent: false,
  surchargeMinor: 0,
  partialCaptureMinor: 0,
  voidOutcome: "cancelled",
  partialRefundCents: 0,
  overRefundCents: 0,
  transferDeltaCents: 0,
  transferNotReversed: false,
  transferReversedCents: 0,
};

// Bounded so a typo cannot park a timer for a year or make every request fail forever by accident.
const ms = z.number().int().min(0).max(600_000);
const share = z.number().min(0).max(1);
export const FaultsPatch = z
  .strictObject({
    completionDelayMs: ms,
    completionJitterMs: ms,
    refundDelayMs: ms,
    refundJitterMs: ms,
    latencyMs: ms,
    latencySpikeMs: ms,
    latencySpikeRate: share,
    errorRate: share,
    retryAfterS: z.number().int().min(0).max(3600),
    resetRate: share,
    stuckProcessing: z.boolean(),
    webhookDuplicate: z.boolean(),
    webhookOutOfOrder: z.boolean(),
    schemaDrift: z.boolean(),
    statusEnvironment: z.enum(["staging", "production"]),
    hyperswitchStatus: z.enum(["enabled", "degraded", "disabled"]),
    hyperswitchMode: z.enum(["sandbox", "live"]),
    dbDown: z.boolean(),
    paymentOutcome: z.enum(PAYMENT_OUTCOMES),
    refundOutcome: z.enum(REFUND_OUTCOMES),
    webhookTimeScale: z.number().min(0).max(1),
    webhookFailCount: z.number().int().min(0).max(100),
    webhookFailAfterApplyCount: z.number().int().min(0).max(100),
    processorSilent: z.boolean(),
    surchargeMinor: z.number().int().min(0).max(100_000),
    partialCaptureMinor: z.number().int().min(0).max(100_000_000),
    voidOutcome: z.enum(VOID_OUTCOMES),
    partialRefundCents: z.number().int().min(0).max(1_000_000),
    overRefundCents: z.number().int().min(0).max(1_000_000),
    transferDeltaCents: z.number().int().min(-1_000_000).max(1_000_000),
    transferNotReversed: z.boolean(),
    transferReversedCents: z.number().int().min(0).max(1_000_000),
  })
  .partial();

/** Validate a partial patch; throws a ZodError with a readable message on bad input. */
export function parseFaultsPatch(input: unknown): Partial<Faults> {
  return FaultsPatch.parse(input ?? {}) as Partial<Faults>;
}

/** mulberry32: tiny, seedable, good enough to make fault runs repeatable. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fault knobs plus the seeded random source every fault decision draws from. */
export class FaultState {
  private current: Faults;
  readonly random: () => number;
  constructor(seed: number, initial: Partial<Faults> = {}) {
    this.current = { ...DEFAULT_FAULTS, ...parseFaultsPatch(initial) };
    this.random = makeRng(seed);
  }
  get(): Faults {
    return { ...this.current };
  }
  /** Counts one webhook delivery against `webhookFailCount`; true when this one is to be refused. */
  takeWebhookFailure(): boolean {
    if (this.current.webhookFailCount <= 0) return false;
    this.current = { ...this.current, webhookFailCount: this.current.webhookFailCount - 1 };
    return true;
  }
  /** Counts one applied delivery against `webhookFailAfterApplyCount`; true when its answer is to be "lost". */
  takeLostAnswer(): boolean {
    if (this.current.webhookFailAfterApplyCount <= 0) return false;
    this.current = { ...this.current, webhookFailAfterApplyCount: this.current.webhookFailAfterApplyCount - 1 };
    return true;
  }

  /** The amount the next refund really refunds, given what was asked: `partialRefundCents` once, then `overRefundCents`. */
  takeRefundAmount(asked: number): number {
    const partial = this.current.partialRefundCents;
    if (partial > 0) {
      this.current = { ...this.current, partialRefundCents: 0 };
      return Math.min(partial, asked);
    }
    return asked + this.current.overRefundCents;
  }
  set(patch: Partial<Faults>): Faults {
    this.current = { ...this.current, ...parseFaultsPatch(patch) };
    return this.get();
  }
  /** True with probability `rate`; draws from the PRNG only when the knob is on, so unrelated knobs do not shift the sequence. */
  chance(rate: number): boolean {
    return rate > 0 && this.random() < rate;
  }
  jitter(maxMs: number): number {
    return maxMs > 0 ? Math.floor(this.random() * (maxMs + 1)) : 0;
  }
}
