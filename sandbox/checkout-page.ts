// The hosted checkout: HTML rendering and card-form validation. The element ids
// (#card_number, #expiry, #cvc, #holder, button#pay, #result[data-status], #last4,
// #connector, #error_code) are relied on by the runbook's headless payer: keep them.
import { CARD_DECLINED, CARD_INSUFFICIENT_FUNDS } from "./test-cards";

export interface CheckoutPayment {
  payment_id: string;
  status: string;
  amount: number;
  currency: string;
  connector: string;
  error_code: string | null;
  error_message: string | null;
  card_last4: string | null;
  card_network: string | null;
}

export type CardOutcome =
  | { kind: "success" }
  | { kind: "failure"; code: "card_declined" | "insufficient_funds"; message: string };

export interface ParsedCard {
  last4: string;
  network: string;
  outcome: CardOutcome;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function formatAmount(minor: number, currency: string): string {
  return `${(minor / 100).toFixed(2)} ${currency}`;
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function network(digits: string): string {
  if (digits.startsWith("4")) return "Visa";
  if (/^(5[1-5]|2[2-7])/.test(digits)) return "Mastercard";
  if (/^3[47]/.test(digits)) return "AmericanExpress";
  return "Unknown";
}

const FORM_FIELDS = new Set(["card_number", "expiry", "cvc", "holder", "client_secret"]);

/** Validate the posted form. Error messages never contain the card number. */
export function parseCardForm(form: Record<string, string>, now = new Date()): ParsedCard | { error: string } {
  for (const k of Object.keys(form)) if (!FORM_FIELDS.has(k)) return { error: `unexpected field "${k.slice(0, 40)}"` };
  const digits = (form.card_number ?? "").replace(/[\s-]/g, "");
  if (!/^\d{12,19}$/.test(digits)) return { error: "Card number must be 12 to 19 digits." };
  if (!luhn(digits)) return { error: "Card number is not valid (checksum failed)." };
  const m = /^\s*(\d{2})\s*\/\s*(\d{2})\s*$/.exec(form.expiry ?? "");
  if (!m) return { error: "Expiry must be MM/YY." };
  const month = Number(m[1]);
  const year = 2000 + Number(m[2]);
  if (month < 1 || month > 12) return { error: "Expiry month must be 01 to 12." };
  // A card is valid through the last day of its expiry month.
  if (year * 12 + month < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1) return { error: "Card has expired." };
  if (!/^\d{3,4}$/.test(form.cvc ?? "")) return { error: "CVC must be 3 or 4 digits." };
  const holder = (form.holder ?? "").trim();
  if (!holder || holder.length > 100 || /[\u0000-\u001f\u007f]/.test(holder))
    return { error: "Cardholder name is required (up to 100 characters)." };
  let outcome: CardOutcome = { kind: "success" };
  if (digits === CARD_DECLINED)
    outcome = { kind: "failure", code: "card_declined", message: "Your card was declined." };
  if (digits === CARD_INSUFFICIENT_FUNDS)
    outcome = { kind: "failure", code: "insufficient_funds", message: "Your card has insufficient funds." };
  return { last4: digits.slice(-4), network: network(digits), outcome };
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
label{display:block;margin-top:.8rem;font-size:.9rem}
input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.2rem;width:100%;padding:.7rem;font-size:1rem;background:#3b5bdb;color:#fff;border:0;border-radius:4px}
.amount{font-size:1.6rem;font-weight:600}.muted{color:#666;font-size:.85rem}.error{color:#c92a2a}
.badge{display:inline-block;padding:.1rem .4rem;border-radius:3px;background:#fff3bf;font-size:.75rem}
</style></head>
<body><p class="badge">SANDBOX: test cards only, no real money moves</p>
${body}
</body></html>`;
}

export function renderCheckoutForm(p: CheckoutPayment, clientSecret: string, error?: string): string {
  return page(
    `Pay ${formatAmount(p.amount, p.currency)}`,
    `
<h1>Checkout</h1>
<p class="amount" id="amount" data-amount="${p.amount}" data-currency="${esc(p.currency)}">${esc(formatAmount(p.amount, p.currency))}</p>
<p class="muted">Payment <span id="payment_id">${esc(p.payment_id)}</span></p>
${error ? `<p class="error" id="form_error" role="alert">${esc(error)}</p>` : ""}
<form id="checkout" method="post" action="/checkout/${encodeURIComponent(p.payment_id)}" autocomplete="off">
  <input type="hidden" name="client_secret" value="${esc(clientSecret)}">
  <label for="card_number">Card number</label>
  <input id="card_number" name="card_number" inputmode="numeric" placeholder="card number" required>
  <label for="expiry">Expiry (MM/YY)</label>
  <input id="expiry" name="expiry" placeholder="12/30" required>
  <label for="cvc">CVC</label>
  <input id="cvc" name="cvc" inputmode="numeric" placeholder="123" required>
  <label for="holder">Cardholder name</label>
  <input id="holder" name="holder" placeholder="Ada Lovelace" required>
  <button id="pay" type="submit">Pay ${esc(formatAmount(p.amount, p.currency))}</button>
</form>
<p class="muted">Test cards (full numbers in the sandbox's start-up output): the one ending 4242 succeeds,
0002 is declined, 9995 has insufficient funds. Any future expiry, any CVC.</p>`,
  );
}

export function renderResult(p: CheckoutPayment, clientSecret: string): string {
  const failed = p.status === "failed";
  const heading = failed ? "Payment failed" : p.status === "succeeded" ? "Payment succeeded" : "Payment processing";
  return page(
    heading,
    `
<h1>${esc(heading)}</h1>
<div id="result" data-status="${esc(p.status)}" data-payment-id="${esc(p.payment_id)}">
  <p class="amount" id="amount" data-amount="${p.amount}" data-currency="${esc(p.currency)}">${esc(formatAmount(p.amount, p.currency))}</p>
  <p>Status: <strong id="status">${esc(p.status)}</strong></p>
  ${p.card_last4 ? `<p>Card: <span id="network">${esc(p.card_network ?? "")}</span> ending <span id="last4">${esc(p.card_last4)}</span></p>` : ""}
  <p>Connector: <span id="connector">${esc(p.connector)}</span></p>
  ${failed ? `<p class="error">Error: <span id="error_code">${esc(p.error_code ?? "")}</span>: <span id="error_message">${esc(p.error_message ?? "")}</span></p>` : ""}
</div>
<p><a id="refresh" href="/checkout/${encodeURIComponent(p.payment_id)}?client_secret=${encodeURIComponent(clientSecret)}">Refresh status</a></p>`,
  );
}

export function renderError(status: number, message: string): string {
  return page(
    `Checkout error ${status}`,
    `
<h1>Checkout error</h1>
<div id="result" data-status="error" data-http-status="${status}"><p class="error" id="error_message" role="alert">${esc(message)}</p></div>`,
  );
}
