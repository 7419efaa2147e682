/**
 * Money as data: an integer amount in the currency's minor unit plus its ISO 4217 code. Every
 * amount the runbook records is a `Money`; text is made here and nowhere else, with the
 * currency's own exponent (EUR 2, JPY 0, BHD 3), so 375 EUR cents reads "3.75 EUR".
 */
import { z } from "zod";

export interface Money {
  /** Integer amount in minor units (cents for EUR, yen for JPY, fils for BHD). */
  minor: number;
  /** ISO 4217 code, upper case. */
  currency: string;
}

export const MoneySchema = z
  .object({ minor: z.number().int(), currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR") })
  .strict();

const exponents = new Map<string, number>();

/**
 * Digits after the decimal point for a currency, from the ICU data Node ships (EUR 2, JPY 0,
 * BHD 3); 2 for a code ICU does not know.
 */
export function currencyExponent(currency: string): number {
  const code = currency.toUpperCase();
  let e = exponents.get(code);
  if (e === undefined) {
    try {
      e =
        new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      e = 2; // not a well-formed code: show cents, the marketplace's own unit
    }
    exponents.set(code, e);
  }
  return e;
}

/**
 * An amount typed in major units to 2 decimals (MAX_PRICE "5.00", held as 500 hundredths) in a
 * currency's own minor units: 500 EUR cents, 5 JPY, 5000 BHD fils. Rounded down, so a cap never grows.
 */
export function hundredthsToMinor(hundredths: number, currency: string): number {
  const e = currencyExponent(currency);
  return e >= 2 ? hundredths * 10 ** (e - 2) : Math.floor(hundredths / 10 ** (2 - e));
}

export function money(minor: number, currency: string): Money {
  return { minor, currency: currency.toUpperCase() };
}

/**
 * The one formatter: `formatMoney(375, "EUR")` → "3.75 EUR", `formatMoney(500, "JPY")` → "500 JPY",
 * `formatMoney(1234, "BHD")` → "1.234 BHD".
 */
export function formatMoney(minor: number, currency: string): string {
  const e = currencyExponent(currency);
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(minor));
  if (e === 0) return `${sign}${abs} ${currency.toUpperCase()}`;
  const s = String(abs).padStart(e + 1, "0");
  return `${sign}${s.slice(0, -e)}.${s.slice(-e)} ${currency.toUpperCase()}`;
}

/** `formatMoney` for a `Money` value. */
export const formatAmount = (m: Money): string => formatMoney(m.minor, m.currency);
