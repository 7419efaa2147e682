/**
 * Finding codes (issue 24 §6): a small, stable set both verifiers print at the end of a finding's
 * line, ` [CODE]`, so tests and auditors compare what was found rather than wording. The same list
 * is in verifier/verify_session.py and docs/evidence-format.md; a code is never renamed.
 */
import type { ChainBreak } from "./chain";

export const FINDING_CODES = {
  /** manifest.json missing, not valid JSON, or its fields or files list malformed (a file listed twice included). */
  MANIFEST_INVALID: "MANIFEST_INVALID",
  /** A chained line's seq/prev/hash, a cut tail, lines added, a chain rewritten against the manifest's head, or a chain file missing or unchained. */
  CHAIN_BROKEN: "CHAIN_BROKEN",
  /** A line whose value has no RFC 8785 form (a lone surrogate, NaN) or whose bytes are not that form. */
  NOT_CANONICAL: "NOT_CANONICAL",
  /** A byte sequence that is not UTF-8 in a chained file. */
  INVALID_UTF8: "INVALID_UTF8",
  /** A listed file edited, appended to or missing. */
  FILE_CHANGED: "FILE_CHANGED",
  /** A file in the sealed folder the manifest does not list (editor and checkpoint files excepted). */
  EXTRA_FILE: "EXTRA_FILE",
  /** Folder, manifest, journal and trace disagree on the session id or mode. */
  IDENTITY: "IDENTITY",
  /** The notebook, HTML export or report.md names another session and never this one (a relabelled copy). */
  IDENTITY_LEFTOVER: "IDENTITY_LEFTOVER",
  /** The folder differs from the anchor in the living report (now or in its git history). */
  ANCHOR_MISMATCH: "ANCHOR_MISMATCH",
  /** More than one anchor-shaped line in one session block. */
  ANCHOR_AMBIGUOUS: "ANCHOR_AMBIGUOUS",
  /** An anchor-shaped line that is not the strict form (canonical JSON in the marked comment). */
  ANCHOR_MALFORMED: "ANCHOR_MALFORMED",
  /** An RFC 3161 timestamp that does not verify, or covers another manifest hash. */
  TIMESTAMP_INVALID: "TIMESTAMP_INVALID",
  /** A timestamp is present but no authority certificate was given to check it (a warning). */
  TIMESTAMP_UNCHECKED: "TIMESTAMP_UNCHECKED",
  /** A staging or live seal (or re-seal statement) without its SSH signature. */
  SIGNATURE_MISSING: "SIGNATURE_MISSING",
  /** A signature that does not verify over its file in its namespace (or cannot be checked: no ssh-keygen). */
  SIGNATURE_INVALID: "SIGNATURE_INVALID",
  /** Signed by a key that is not in the allowed signers (or the list is missing or empty). */
  SIGNER_NOT_ALLOWED: "SIGNER_NOT_ALLOWED",
  /** The living report's block anchored to this seal names another signer than the one whose signature is on manifest.json (or a signer for an unsigned seal). */
  SIGNER_MISMATCH: "SIGNER_MISMATCH",
  /** A re-seal that does not prove what it replaced: its note lacks the replaced heads or they no longer hold, or its statement is missing or disagrees. */
  RESEAL_BROKEN: "RESEAL_BROKEN",
  /** The notebook lacks outputs the kernel displayed (outputs.jsonl), shows another outcome, or misses a step result of the journal. */
  NOTEBOOK_DISAGREES: "NOTEBOOK_DISAGREES",
  /** The HTML export shows other outputs than the notebook in some code cell (another text, image or number of outputs, or of code cells). */
  HTML_DISAGREES: "HTML_DISAGREES",
  /** report.md, the notebook, the HTML export or the living report's block anchored to this seal states another outcome (or reason) than the journal records, or the journal's stated outcome is not its verdict. */
  OUTCOME_MISMATCH: "OUTCOME_MISMATCH",
  /** The sealed notebook's OPERATOR_NOTES is in neither the journal nor the trace: the notebook and its HTML show a note report.md lacks. */
  NOTES_UNRECORDED: "NOTES_UNRECORDED",
} as const;

export type FindingCode = keyof typeof FINDING_CODES;

/** The code of a chain break, from its kind (lib/evidence/chain.ts), never from its words. */
export function chainCode(b: ChainBreak): FindingCode {
  if (b.kind === "not_utf8") return "INVALID_UTF8";
  if (b.kind === "not_canonical") return "NOT_CANONICAL";
  return "CHAIN_BROKEN";
}
