import { type Dispatcher, request } from "undici";
import type { Ctx } from "./context";
import { UpstreamError } from "./errors";

// The marketplace is a real HTTP client of the orchestrator, as in production.

async function call<T>(ctx: Ctx, method: "POST" | "GET", path: string, body?: unknown): Promise<T> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(`${ctx.hyperswitchUrl}${path}`, {
      method,
      dispatcher: ctx.agent,
      headers: {
        "api-key": ctx.apiKey,
        accept: "application/json",
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  } catch (err) {
    throw new UpstreamError(`payment orchestrator unreachable: ${(err as Error).message}`);
  }
  const text = await res.body.text().catch(() => "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.statusCode >= 300 || !json || typeof json !== "object") {
    const msg = (json as { error?: { message?: string } } | undefined)?.error?.message ?? `HTTP ${res.statusCode}`;
    throw new UpstreamError(`payment orchestrator refused ${method} ${path.split("/")[1]}: ${msg}`);
  }
  return json as T;
}

export interface HsPayment {
  payment_id: string;
  client_secret: string;
  status: string;
  amount: number;
  currency: string;
}
export interface HsRefund {
  refund_id: string;
  payment_id: string;
  status: string;
  amount: number;
  currency: string;
  created_at: string | null;
}

export function createPayment(
  ctx: Ctx,
  input: { amount: number; currency: string; description: string; metadata: Record<string, string> },
) {
  return call<HsPayment>(ctx, "POST", "/payments", input);
}

export function createRefund(ctx: Ctx, input: { payment_id: string; amount: number; reason?: string }) {
  return call<HsRefund>(ctx, "POST", "/refunds", input);
}
