/**
 * The one place findings become words (issue 21 item 4). Code decides on a finding's `kind`; this
 * module only says it. The chain breaks are worded exactly as verifier/verify_session.py words
 * them, so the two verifiers' output stays comparable line by line.
 */
import type { ChainBreak } from "./chain";

/** A chain break in words, e.g. "seq is 4, expected 3 (line deleted, inserted or reordered)". */
export function chainBreakText(b: ChainBreak): string {
  switch (b.kind) {
    case "unreadable":
      return `cannot read: ${b.detail}`;
    case "not_json":
      return "not valid JSON (edited or truncated)";
    case "not_record":
      return b.detail;
    case "not_canonical":
      return "bytes differ from the canonical form (edited)";
    case "seq":
      return `seq is ${b.seq}, expected ${b.line} (line deleted, inserted or reordered)`;
    case "prev":
      return "prev does not match the hash of the line before";
    case "hash":
      return "hash does not match the content (edited)";
    case "torn":
      return "incomplete last line (no newline: cut or torn write)";
    case "not_utf8":
      return "not valid UTF-8 (edited or truncated)";
    case "missing":
      return `missing: ${b.noun} ends at line ${b.ends}, manifest expects ${b.expected} (tail cut)`;
    case "rewritten":
      return `hash of line ${b.line} differs from the recorded chain head (chain rewritten)`;
    case "extra":
      return `extra: ${b.count} line(s) after the manifest's last line ${b.expected}`;
  }
}
