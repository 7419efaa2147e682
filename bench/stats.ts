/**
 * Small statistics and formatting helpers shared by the measures. Percentiles use the
 * nearest-rank method on a sorted copy, so p50 of an odd-length list is an observed value.
 */

/** Nearest-rank percentile (q in 0..100); NaN for an empty list. Example: pct([1, 2, 3, 4], 50) === 2 */
export function pct(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((q / 100) * s.length));
  return s[Math.min(rank, s.length) - 1];
}

export const median = (xs: readonly number[]) => pct(xs, 50);
export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** `1234.5` → `"1235"`; `12.345` with digits 1 → `"12.3"`; NaN → `"n/a"`. */
export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

/** Milliseconds as seconds with one decimal: 12345 → "12.3 s". */
export const sec = (ms: number) => `${fmt(ms / 1000, 1)} s`;

/** A ratio "a / b" as "4.2×"; n/a when b is 0. */
export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? `${fmt(a / b, 1)}×` : "n/a";
}

/** Bytes as kB/MB with one decimal (1 kB = 1000 B, as the targets are written). */
export function bytes(n: number): string {
  if (n >= 1e6) return `${fmt(n / 1e6, 2)} MB`;
  if (n >= 1e3) return `${fmt(n / 1e3, 1)} kB`;
  return `${fmt(n)} B`;
}

/** A Markdown table from a header row and data rows. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) =>
    `| ${cells.map((c) => String(c).replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** ✅ when ok, ❌ otherwise; "—" when there is nothing to judge. */
export function verdict(ok: boolean | null): string {
  return ok === null ? "—" : ok ? "✅ met" : "❌ missed";
}

/** Wall-clock epoch milliseconds with sub-ms precision (same clock as Date.now()). */
export const wallNow = () => performance.timeOrigin + performance.now();
