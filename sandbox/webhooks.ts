import { createHmac, timingSafeEqual } from "node:crypto";
import { request } from "undici";
import type { Ctx } from "./context";
import { newId } from "./context";

export const SIGNATURE_HEADER = "x-webhook-signature-512";

export type EventType =
  | "payment_processing"
  | "payment_succeeded"
  | "payment_failed"
  | "refund_succeeded"
  | "refund_failed";

export interface WebhookEvent {
  event_id: string;
  event_type: EventType;
  created: string;
  content: { type: "payment_details" | "refund_details"; object: Record<string, unknown> };
}

export function sign(secret: string, raw: string | Buffer): string {
  return createHmac("sha512", secret).update(raw).digest("hex");
}

export function verifySignature(secret: string, raw: Buffer | undefined, signature: unknown): boolean {
  if (!raw || typeof signature !== "string" || !/^[0-9a-f]{128}$/i.test(signature)) return false;
  const expected = Buffer.from(sign(secret, raw), "hex");
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

export function makeEvent(type: EventType, object: Record<string, unknown>): WebhookEvent {
  return {
    event_id: newId("evt"),
    event_type: type,
    created: new Date().toISOString(),
    content: { type: type.startsWith("refund") ? "refund_details" : "payment_details", object },
  };
}

const RETRY_DELAYS_MS = [100, 400, 1500]; // small and bounded: 4 attempts in all

/**
 * Delivers events one after another per resource (payment), so ordering is what the
 * orchestrator decided (including the deliberate out-of-order fault), with a small retry.
 */
export class WebhookSender {
  private chains = new Map<string, Promise<void>>();
  constructor(private readonly ctx: Ctx) {}

  send(resourceKey: string, event: WebhookEvent): void {
    const copies = this.ctx.faults.get().webhookDuplicate ? 2 : 1;
    const prev = this.chains.get(resourceKey) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        for (let i = 0; i < copies; i++) await this.deliver(event);
      })
      .catch((err) => this.ctx.log(`webhook delivery failed: ${(err as Error).message}`));
    this.chains.set(resourceKey, next);
    void next.finally(() => {
      if (this.chains.get(resourceKey) === next) this.chains.delete(resourceKey);
    });
  }

  /** Resolves when every queued delivery has finished (used by tests and stop()). */
  async drain(): Promise<void> {
    while (this.chains.size) await Promise.allSettled([...this.chains.values()]);
  }

  private async deliver(event: WebhookEvent): Promise<void> {
    const body = JSON.stringify(event);
    const signature = sign(this.ctx.webhookSecret, body);
    for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
      if (this.ctx.timers.stopped) return;
      try {
        const res = await request(`${this.ctx.marketplaceUrl}/api/v1/webhooks/hyperswitch`, {
          method: "POST",
          dispatcher: this.ctx.agent,
          headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
          body,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await res.body.text().catch(() => "");
        if (res.statusCode < 300) return;
        // A 4xx other than 429 will not get better by retrying.
        if (res.statusCode < 500 && res.statusCode !== 429) {
          this.ctx.log(`webhook ${event.event_type} ${event.event_id} rejected with ${res.statusCode}`);
          return;
        }
      } catch {
        // network error: retry below
      }
      if (attempt < RETRY_DELAYS_MS.length) await this.ctx.timers.sleep(RETRY_DELAYS_MS[attempt]);
    }
    this.ctx.log(`webhook ${event.event_type} ${event.event_id} gave up after ${RETRY_DELAYS_MS.length + 1} attempts`);
  }
}
