/**
 * The backend a session ran against, as its journal records it: the BASE_URL it was created with
 * (`session_created.base_url`) and the one each passed pre-flight pinned. A run against this
 * machine's loopback (an SSH tunnel to production, or a local backend such as the sandbox told to
 * claim production) looks like any other in its facts: the tool cannot tell which, so every view of
 * the result names the origin, and a staging dry run or a live GO on loopback counts only with the
 * operator's statement why, journaled when the session was created (`session_created.via_tunnel`,
 * `npm run session -- --via-tunnel "<why>"`).
 */
import { isLoopback } from "../config";
import { type JournalEntry, firstOf } from "./journal";

/** A tunnel statement shorter than this is no statement (the dry-run override's rule). */
export const TUNNEL_MIN_CHARS = 10;

export interface BackendOrigin {
  /** The origin the session last pinned (else the one it was created with); null: not recorded. */
  origin: string | null;
  /** Every recorded origin that is this machine (`onThisMachine`: the transport guard's loopback rule and more). */
  loopback: string[];
  /** The operator's statement why, from the session's first entry; null when none (or too short). */
  tunnel: string | null;
}

/**
 * The origin's host is this machine: the transport guard's loopback rule (lib/config.ts `isLoopback`),
 * and the other spellings that reach it which that rule (deciding where http is allowed) leaves out —
 * 0.0.0.0 and [::], `localhost.` and `*.localhost`, 127/8 as an IPv4-mapped IPv6 address. Staging
 * allows http anywhere, so a dry run against the local sandbox could otherwise go by one of these.
 * A name that resolves here through DNS or /etc/hosts is not seen: the journal holds the name only.
 */
export function onThisMachine(url: string): boolean {
  if (isLoopback(url)) return true;
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  const h = host.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  return (
    h === "localhost" ||
    h.endsWith(".localhost") ||
    h === "0.0.0.0" ||
    h === "::" ||
    /^::ffff:(7f[0-9a-f]{2}:[0-9a-f]{1,4}|0:0)$/.test(h)
  );
}

const originOf = (u: string): string => {
  try {
    return new URL(u).origin;
  } catch {
    return u;
  }
};

/** The session's backend as its journal records it. */
export function backendOrigin(entries: readonly JournalEntry[]): BackendOrigin {
  const created = firstOf(entries, "session_created");
  const recorded: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v.trim() && !recorded.includes(originOf(v.trim()))) recorded.push(originOf(v.trim()));
  };
  add(created?.data.base_url);
  let pinned: string | null = null;
  for (const e of entries)
    if (e.kind === "preflight" && typeof e.data.params?.BASE_URL === "string") {
      add(e.data.params.BASE_URL);
      if (e.data.ok) pinned = originOf(e.data.params.BASE_URL);
    }
  const stated = typeof created?.data.via_tunnel === "string" ? created.data.via_tunnel.trim() : "";
  return {
    origin: pinned ?? recorded[0] ?? null,
    loopback: recorded.filter(onThisMachine),
    tunnel: stated.length >= TUNNEL_MIN_CHARS ? stated : null,
  };
}

/** What a loopback origin is, said wherever the run's result is shown. */
export const LOOPBACK_NOTE =
  "this machine's loopback: a tunnel or a local backend; production not verified by the tool";

/**
 * The backend as plain text (callers make it inert): the origin, and when loopback what that means and
 * the operator's statement or its absence (`mode` sandbox: the local sandbox, nothing to state);
 * "backend origin not recorded" for a session without one.
 */
export function backendText(b: BackendOrigin, mode?: string): string {
  if (!b.origin && !b.loopback.length) return "backend origin not recorded";
  if (!b.loopback.length) return String(b.origin);
  const shown = b.origin && !b.loopback.includes(b.origin) ? [b.origin, ...b.loopback] : b.loopback;
  // A sandbox rehearsal is this machine's by design and never counts toward the live gate or GO.
  if (mode === "sandbox") return `${shown.join(", ")} (this machine's loopback: the local sandbox)`;
  const why = b.tunnel ? `operator stated: "${b.tunnel}"` : "no tunnel statement recorded when the session was created";
  return `${shown.join(", ")} (${LOOPBACK_NOTE}) — ${why}`;
}

/**
 * Why a loopback run cannot count (a staging dry run for the live gate, a live run for GO), or null.
 * `fix`: what to do, e.g. "run a new live session".
 */
export function loopbackProblem(b: BackendOrigin, mode: "staging" | "live"): string | null {
  if (!b.loopback.length || b.tunnel) return null;
  return `its backend was this machine's loopback (${b.loopback.join(", ")}) and the session states no reason: a local backend can claim production — run a new ${mode} session against the real origin, or, through a tunnel, create it with npm run session -- --mode ${mode} --via-tunnel "<why>"`;
}
