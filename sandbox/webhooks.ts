import { createHmac, timingSafeEqual } from "node:crypto";
import { request } from "undici";
import type { Ctx } from "./context";
import type { WebhookEvent } from "./hs-wire";

export type { EventType, WebhookEvent } from "./hs-wire";
export { makeEvent } from "./hs-wire";

export const SIGNATURE_HEADER = "x-webhook-signature-512";

/**
 * Hyperswitch's default outgoing-webhook retry schedule, in seconds after the previous attempt:
 * the first retry after 1 minute, then 2 at 5 minutes, 5 at 10 minutes, 5 at 1 hour, 3 at 6 hours
 * (16 retries, 17 attempts in all). The sandbox multiplies it by the `webhookTimeScale` fault knob.
 */
export const RETRY_SCHEDULE_S: readonly number[] = [
  60,
  ...Array(2).fill(5 * 60),
  ...Array(5).fill(10 * 60),
  ...Array(5).fill(60 * 60),
  ...Array(3).fill(6 * 60 * 60),
];

const SENT_LOG_MAX = 1000;
const ANSWER_MAX = 500;

/**
 * One delivery attempt as the sandbox made it: the exact body, the receiver's status (null = no
 * answer) and the first characters of its answer, and when it was sent.
 */
export interface SentWebhook {
  body: string;
  status: number | null;
  retry: number;
  answer: string;
  at: string;
}

export function sign(secret: string, raw: string | Buffer): string {
  return createHmac("sha512", secret).update(raw).digest("hex");
}

export function verifySignature(secret: string, raw: Buffer | undefined, signature: unknown): boolean {
  if (!raw || typeof signature !== "string" || !/^[0-9a-f]{128}$/i.test(signature)) return false;
  const expected = Buffer.from(sign(secret, raw), "hex");
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

/**
 * Delivers events one after another per resource (payment), so the first attempts arrive in the
 * order the orchestrator decided (including the deliberate out-of-order fault). A delivery that gets
 * no 2xx is retried on Hyperswitch's schedule, outside that order, as Hyperswitch does it: the stored
 * original request is sent again, byte for byte (same `event_id`, same object, same `timestamp`),
 * even when the object's status has moved on since. The receiver de-duplicates by `event_id`.
 */
export class WebhookSender {
  private chains = new Map<string, Promise<void>>();
  private retries = new Set<Promise<void>>();
  private log: SentWebhook[] = [];
  constructor(private readonly ctx: Ctx) {}

  send(resourceKey: string, event: WebhookEvent): void {
    const copies = this.ctx.faults.get().webhookDuplicate ? 2 : 1;
    // The stored request: every attempt, first and retries, sends exactly these bytes.
    const body = JSON.stringify(event);
    const prev = this.chains.get(resourceKey) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        let delivered = false;
        for (let i = 0; i < copies; i++) delivered = (await this.attempt(event, body, 0)) || delivered;
        if (!delivered) this.scheduleRetry(event, body, 0);
      })
      .catch((err) => this.ctx.log(`webhook delivery failed: ${(err as Error).message}`));
    this.chains.set(resourceKey, next);
    void next.finally(() => {
      if (this.chains.get(resourceKey) === next) this.chains.delete(resourceKey);
    });
  }

  /** Every attempt made so far (the newest SENT_LOG_MAX), oldest first. */
  sent(): SentWebhook[] {
    return this.log.map((s) => ({ ...s }));
  }

  /** Resolves when every queued delivery and every scheduled retry has finished (tests and stop()). */
  async drain(): Promise<void> {
    while (this.chains.size || this.retries.size) await Promise.allSettled([...this.chains.values(), ...this.retries]);
  }

  private scheduleRetry(event: WebhookEvent, body: string, n: number): void {
    if (n >= RETRY_SCHEDULE_S.length) {
      this.ctx.log(`webhook ${event.event_type} for ${objectId(event)} gave up after ${n + 1} attempts`);
      return;
    }
    const task = (async () => {
      const scale = this.ctx.faults.get().webhookTimeScale;
      await this.ctx.timers.sleep(Math.round(RETRY_SCHEDULE_S[n] * 1000 * scale));
      if (this.ctx.timers.stopped) return;
      if (!(await this.attempt(event, body, n + 1))) this.scheduleRetry(event, body, n + 1);
    })().catch((err) => this.ctx.log(`webhook retry failed: ${(err as Error).message}`));
    this.retries.add(task);
    void task.finally(() => this.retries.delete(task));
  }

  /** One POST; true on a 2xx. Any other answer, or none, counts as a failure to be retried. */
  private async attempt(event: WebhookEvent, body: string, retry: number): Promise<boolean> {
    if (this.ctx.timers.stopped) return true;
    const at = new Date().toISOString();
    let status: number | null = null;
    let answer = "";
    try {
      const res = await request(`${this.ctx.marketplaceUrl}/api/v1/webhooks/hyperswitch`, {
        method: "POST",
        dispatcher: this.ctx.agent,
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: sign(this.ctx.webhookSecret, body) },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      answer = (await res.body.text().catch(() => "")).slice(0, ANSWER_MAX);
      status = res.statusCode;
    } catch {
      // no answer: retried like a non-2xx
    }
    this.log.push({ body, status, retry, answer, at });
    if (this.log.length > SENT_LOG_MAX) this.log.splice(0, this.log.length - SENT_LOG_MAX);
    const ok = status !== null && status >= 200 && status < 300;
    if (!ok) this.ctx.log(`webhook ${event.event_type} ${event.event_id} got ${status ?? "no answer"}`);
    return ok;
  }
}

function objectId(event: WebhookEvent): string {
  const o = event.content.object;
  return String(o.refund_id ?? o.payment_id ?? "?");
}
