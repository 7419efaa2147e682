/**
 * Retrying as an undici interceptor (as undici composes its own retry), composed outside tracing so that every
 * attempt lands in the trace. The policy (policy.ts): only a call that may be retried
 * (CallContext.canRetry: a GET, or a POST with an Idempotency-Key) is retried, on a transport error
 * or a retryable answer, up to HTTP_DEFAULTS.maxAttempts, after max(Retry-After, jittered backoff),
 * each retry an anomaly. A dispatch without a CallContext passes through.
 *
 * undici's own retry interceptor is not used: this policy reads the body of a 409 to decide, draws
 * jitter from an injectable random source, sleeps through an injectable sleep, records an anomaly
 * per retry, and hands the last answer back unchanged (not as a RequestRetryError) when attempts
 * run out.
 */
import type { Dispatcher } from "undici";
import { oneLine } from "../errors";
import type { Anomaly } from "../types";
import { type CallContext, type CallDispatchOptions, type ClientCounters, type HeaderMap, guard } from "./call";
import {
  HTTP_DEFAULTS,
  backoffMs,
  certificateError,
  decodeBody,
  parseJson,
  retryAfterMs,
  retryableAnswer,
} from "./policy";

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;

export interface RetryingDeps {
  counters: ClientCounters;
  onAnomaly: (a: Omit<Anomaly, "at">) => void;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Retries a call that may be retried (see CallContext.canRetry) on a transport error or a retryable
 * answer (policy.ts), up to HTTP_DEFAULTS.maxAttempts, each retry an anomaly. While another attempt
 * is still possible the answer is held back until it is judged; the last attempt passes through.
 */
export function retrying(deps: RetryingDeps): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const ctx = (opts as CallDispatchOptions).call;
    if (!ctx) return dispatch(opts, handler);
    return new RetryingHandler(deps, ctx, (self) => dispatch(opts, self), handler).start();
  };
}

class RetryingHandler implements Handler {
  private holding = false;
  private status = 0;
  private headers: HeaderMap = {};
  private statusMessage: string | undefined;
  private chunks: Buffer[] = [];

  constructor(
    private readonly deps: RetryingDeps,
    private readonly ctx: CallContext,
    private readonly send: (self: Handler) => boolean,
    private readonly next: Handler,
  ) {}

  /** Dispatches the attempt `ctx.attempt`; holds its answer back if another attempt could follow. */
  start(): boolean {
    this.ctx.answered = false;
    this.holding = this.ctx.canRetry && this.ctx.attempt < HTTP_DEFAULTS.maxAttempts;
    this.chunks = [];
    return this.send(this);
  }

  onRequestStart(controller: Controller, context: unknown): void {
    // Forwarded per attempt, so an abort from above reaches the attempt under way.
    this.next.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: HeaderMap, statusMessage?: string): void {
    this.ctx.answered = true;
    if (!this.holding) {
      this.next.onResponseStart?.(controller, statusCode, headers, statusMessage);
      return;
    }
    this.status = statusCode;
    this.headers = headers;
    this.statusMessage = statusMessage;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (!this.holding) {
      this.next.onResponseData?.(controller, chunk);
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(controller: Controller, trailers: HeaderMap): void {
    if (!this.holding) {
      this.next.onResponseEnd?.(controller, trailers);
      return;
    }
    const { status, headers } = this;
    const json = status === 409 ? parseJson(decodeBody(this.chunks)) : undefined;
    if (retryableAnswer(status, json, this.ctx.idempotencyKey)) {
      this.retry(controller, () => retryAfterMs(headers["retry-after"]), `HTTP ${status}`);
      return;
    }
    // The answer stands: replay it whole. The attempt is over, so pausing its socket would be wrong.
    const replay = settled(controller);
    this.next.onResponseStart?.(replay, status, headers, this.statusMessage);
    for (const chunk of this.chunks) this.next.onResponseData?.(replay, chunk);
    this.next.onResponseEnd?.(replay, trailers);
  }

  onResponseError(controller: Controller, err: Error): void {
    // Not worth another attempt: the call was stopped (step interrupted, call deadline passed),
    // or the server's certificate was refused (the same certificate would come back).
    const final = this.ctx.signal?.aborted || certificateError(err) !== null;
    if (this.holding && !this.ctx.fault && !final) this.retry(controller, () => null, `network error: ${oneLine(err)}`);
    else this.next.onResponseError?.(controller, err);
  }

  private retry(controller: Controller, server: () => number | null, why: string): void {
    const { ctx, deps } = this;
    let wait = 0;
    const fault = guard(ctx, () => {
      const serverMs = server();
      wait = Math.max(serverMs ?? 0, backoffMs(ctx.attempt, deps.random));
      deps.counters.retries++;
      const message = `${ctx.endpoint}: ${why}; retry ${ctx.attempt}/${HTTP_DEFAULTS.maxAttempts - 1} in ${wait} ms${serverMs !== null ? " (Retry-After honoured)" : ""}${ctx.idempotencyKey ? " with the same Idempotency-Key" : ""}`;
      deps.onAnomaly({ step: null, kind: "retry", message });
    });
    if (fault) {
      this.next.onResponseError?.(controller, fault.error as Error);
      return;
    }
    deps
      .sleep(wait, ctx.signal)
      .then(() => {
        ctx.signal?.throwIfAborted();
        ctx.attempt++;
        this.start();
      })
      .catch((error: unknown) => {
        if (ctx.signal?.aborted) {
          this.next.onResponseError?.(controller, ctx.signal.reason as Error);
          return;
        }
        ctx.fault = ctx.fault ?? { error };
        this.next.onResponseError?.(controller, ctx.fault.error as Error);
      });
  }
}

/** A controller for a replayed answer: abort still reaches the request; pause and resume are moot. */
function settled(c: Controller): Controller {
  return {
    get aborted() {
      return c.aborted;
    },
    get paused() {
      return false;
    },
    get reason() {
      return c.reason;
    },
    abort: (reason: Error) => c.abort(reason),
    pause: () => undefined,
    resume: () => undefined,
  };
}
