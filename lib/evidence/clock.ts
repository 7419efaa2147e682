/**
 * Clock skew between this machine and a server, from the server's `Date` header. One function,
 * used by the HTTP client (the pre-flight guard) and by the report (read back from the trace),
 * so a session has one skew value, computed one way.
 */

/**
 * Server time minus local time in ms, or null without a usable Date header. `Date` has 1 s
 * resolution (truncated), so +500 ms centres it.
 * @example clockSkewMs("Thu, 26 Nov 2026 15:44:00 GMT", Date.parse("2026-11-26T15:44:00.900Z")) // -400
 */
export function clockSkewMs(date: string | string[] | undefined | null, localMs: number): number | null {
  const d = Array.isArray(date) ? date[0] : date;
  const server = d ? Date.parse(d) : Number.NaN;
  if (!Number.isFinite(server) || !Number.isFinite(localMs)) return null;
  return Math.round(server + 500 - localMs);
}

/** Skew in seconds with one decimal, as reports show it. */
export const skewSeconds = (ms: number): number => Math.round(ms / 100) / 10;
