/**
 * The one strict anchor of a session's block in the living report (issue 24 §3): a marked HTML
 * comment holding canonical JSON (RFC 8785), alone on its line, written only by the tool:
 *
 *     <!-- payment-e2e:anchor {"journal_head":"…","journal_lines":12,"manifest_sha256":"…","trace_head":"…","trace_lines":42} -->
 *
 * Backend and operator text reaches the block through the template's inert escaping, so it can
 * never start a line with `<!--`. A block must hold exactly one anchor-shaped line: a second one
 * (a copy pasted into the operator notes, an older `Anchor : manifest sha256 …` line) is an error,
 * never a choice. verifier/verify_session.py parses the same way (docs/evidence-format.md).
 */
import { canonicalJson } from "./canonical";

export interface Anchor {
  manifestSha256: string;
  traceHead: string;
  traceLines: number;
  /** Null for a manifest@1 seal (journal not chained). */
  journalHead: string | null;
  journalLines: number | null;
}

export const ANCHOR_MARKER = "payment-e2e:anchor";
const STRICT = /^<!-- payment-e2e:anchor (\{[^\n]*\}) -->$/;
/** Any line that looks like an anchor, strict or not: the marker before a `{`, or the older words. */
// Backslashes allowed: an escaped copy from operator or backend text (`payment-e2e:anchor \{…`) still
// counts as anchor-shaped, so a pasted anchor makes the block an error, never a silent choice.
const SHAPED = /payment-e2e\\?:anchor\s*\\?\{|Anchor ?:.*?manifest sha256/i;
/** The line form written before issue 24, still read from a block that holds nothing else. */
const LEGACY =
  /Anchor ?: manifest sha256 `([0-9a-f]{64})` · trace head `([0-9a-f]{64})` \((\d+) lines\) · (?:journal head `([0-9a-f]{64})` \((\d+) lines\)|journal not chained)/;
const HEX64 = /^[0-9a-f]{64}$/;
const KEYS = ["journal_head", "journal_lines", "manifest_sha256", "trace_head", "trace_lines"];

/**
 * The anchor line as the tool writes it.
 * @example formatAnchor(a) // '<!-- payment-e2e:anchor {"journal_head":"…",…,"trace_lines":42} -->'
 */
export function formatAnchor(a: Anchor): string {
  const json = canonicalJson({
    manifest_sha256: a.manifestSha256,
    trace_head: a.traceHead,
    trace_lines: a.traceLines,
    journal_head: a.journalHead,
    journal_lines: a.journalLines,
  });
  return `<!-- ${ANCHOR_MARKER} ${json} -->`;
}

/** The same anchor in words, for people reading the block (never parsed). */
export function describeAnchor(a: Anchor): string {
  const journal =
    a.journalHead === null ? "journal not chained" : `journal head \`${a.journalHead}\` (${a.journalLines ?? 0} lines)`;
  return `Anchored : manifest sha256 \`${a.manifestSha256}\` · trace head \`${a.traceHead}\` (${a.traceLines} lines) · ${journal}`;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** One line in the strict form, or null (wrong shape, non-canonical JSON, wrong keys or values). */
export function parseAnchor(line: string): Anchor | null {
  const m = STRICT.exec(line);
  if (!m) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(m[1]) as Record<string, unknown>;
    if (o === null || typeof o !== "object" || Array.isArray(o) || canonicalJson(o) !== m[1]) return null;
  } catch {
    return null;
  }
  if (Object.keys(o).sort().join() !== KEYS.join()) return null;
  const { manifest_sha256: sha, trace_head: th, trace_lines: tl, journal_head: jh, journal_lines: jl } = o;
  if (typeof sha !== "string" || !HEX64.test(sha) || typeof th !== "string" || !HEX64.test(th) || !isCount(tl))
    return null;
  const chained = typeof jh === "string" && HEX64.test(jh) && isCount(jl);
  if (!chained && !(jh === null && jl === null)) return null;
  return {
    manifestSha256: sha,
    traceHead: th,
    traceLines: tl,
    journalHead: chained ? jh : null,
    journalLines: chained ? jl : null,
  };
}

function parseLegacy(line: string): Anchor | null {
  const m = LEGACY.exec(line);
  if (!m) return null;
  return {
    manifestSha256: m[1],
    traceHead: m[2],
    traceLines: Number(m[3]),
    journalHead: m[4] ?? null,
    journalLines: m[5] === undefined ? null : Number(m[5]),
  };
}

export interface BlockAnchor {
  anchor: Anchor | null;
  /** Line numbers (1-based, within the text given) of every anchor-shaped line. */
  shaped: number[];
  /** ambiguous: more than one anchor-shaped line · malformed: one, but not a valid anchor · legacy: the older line form. */
  problem: "ambiguous" | "malformed" | null;
  legacy: boolean;
}

/**
 * The anchor of one block's text: exactly one anchor-shaped line, in the strict form (or, in a
 * block written before issue 24, the older line form). `lineOffset` is added to line numbers.
 */
export function blockAnchor(text: string, lineOffset = 0): BlockAnchor {
  const lines = text.split("\n");
  const shaped: number[] = [];
  lines.forEach((l, i) => {
    if (SHAPED.test(l)) shaped.push(i + 1 + lineOffset);
  });
  if (shaped.length === 0) return { anchor: null, shaped, problem: null, legacy: false };
  if (shaped.length > 1) return { anchor: null, shaped, problem: "ambiguous", legacy: false };
  const line = lines[shaped[0] - 1 - lineOffset];
  const strict = parseAnchor(line);
  if (strict) return { anchor: strict, shaped, problem: null, legacy: false };
  const legacy = line.includes(ANCHOR_MARKER) ? null : parseLegacy(line);
  return legacy
    ? { anchor: legacy, shaped, problem: null, legacy: true }
    : { anchor: null, shaped, problem: "malformed", legacy: false };
}
