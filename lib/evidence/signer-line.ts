/**
 * Who sealed it, in the living report (issue 24): a staging or live session's block in
 * docs/PAYMENT_E2E_LIVE_REPORT.md names the signer of its seal on one line of its Integrity list,
 * written by lib/report/report.ts once the seal is signed:
 *
 *     - Sealed by : `alice@example.com` with `ED25519 key SHA256:…` — …
 *     - Sealed by : unsigned …
 *
 * The identity is the allowed_signers principal whose key made manifest.json.sig, the key its type
 * and fingerprint, each a code span (fenced by more backticks than any run inside). Both verifiers
 * hold every such line of a block anchored to this seal to the signature's actual signer
 * (SIGNER_MISMATCH), so a block cannot name someone who never vouched for the seal, nor claim a
 * signer for an unsigned seal. A block written before the line existed is a warning, never an error;
 * a signature that does not count is already the signature check's error. verifier/verify_session.py
 * parses the same way (docs/evidence-format.md).
 *
 * A re-seal is described in report.md before its statement is signed: `listedIdentity` says whom the
 * allowed signers list for the key that will sign it (lib/host/archive.ts journals it in the trace's
 * re-seal note), or why no one is named.
 */
import * as fs from "node:fs";
import { type SignatureCheck, identitiesOf, namesOnePerson } from "./signature";
import type { SessionSnapshot } from "./snapshot";
import type { VerifyFinding } from "./verify";
import { readBlock, sessionMarkers } from "./anchor";
import { quoted } from "./outcome-stated";

export const SIGNER_PREFIX = "- Sealed by : ";
/** A code span: its fence, then content up to the same fence not followed by another backtick. */
const SIGNED = /^- Sealed by : (`+)(.+?)\1(?!`) with (`+)(.+?)\3(?!`)(?: — .*)?$/;
const UNSIGNED = /^- Sealed by : unsigned(?: .*)?$/;

export type SignerClaim =
  | { kind: "signed"; identity: string; key: string }
  | { kind: "unsigned" }
  /** A line that starts like the signer line and says anything else (an edited line is never skipped). */
  | { kind: "other"; text: string };

/** A code span's content: one space stripped from each end when both ends have one (CommonMark). */
const spanText = (s: string) => (s.length > 2 && s.startsWith(" ") && s.endsWith(" ") ? s.slice(1, -1) : s);

/** One signer line of a block; null when the line is not one. */
export function parseSignerLine(line: string): SignerClaim | null {
  if (!line.startsWith(SIGNER_PREFIX)) return null;
  const m = SIGNED.exec(line);
  if (m) return { kind: "signed", identity: spanText(m[2]), key: spanText(m[4]) };
  if (UNSIGNED.test(line)) return { kind: "unsigned" };
  return { kind: "other", text: line.slice(SIGNER_PREFIX.length) };
}

const claimText = (c: SignerClaim) =>
  c.kind === "signed"
    ? `the signer ${quoted(c.identity, 80)} (${quoted(c.key, 80)})`
    : c.kind === "unsigned"
      ? "no signer (unsigned)"
      : `${quoted(c.text, 80)}`;

/**
 * The living report's block for this session, when its anchor names this seal's manifest: every
 * signer line names the seal's actual signer (`seal`: the signature checked against the allowed
 * signers the verifier trusts). `reportText`: the living report (null: none); `shown`: its name in
 * findings. Never throws.
 */
export function signerLineFindings(
  snap: SessionSnapshot,
  reportText: string | null,
  shown: string,
  seal: SignatureCheck,
): VerifyFinding[] {
  if (reportText === null || !snap.manifest || snap.manifestSha256 === null) return [];
  const id = snap.manifest.session_id;
  if (readBlock(reportText, id)?.anchor?.manifestSha256 !== snap.manifestSha256) return [];
  const { open, close } = sessionMarkers(id);
  const start = reportText.indexOf(open);
  const end = reportText.indexOf(close, start);
  const first = reportText.slice(0, start).split("\n").length;
  const claims = reportText
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .flatMap((line, i) => {
      const c = parseSignerLine(line.replace(/\r$/, ""));
      return c ? [{ c, at: `${shown}:${first + i}` }] : [];
    });
  if (!claims.length)
    return [
      {
        level: "warning",
        subject: `${shown}:${first}`,
        message: `the session's block does not say who sealed it (rendered before blocks named their signer): re-render it with npm run report -- ${snap.dir}`,
      },
    ];
  // A signature that does not count is the signature check's error; there is no signer to compare.
  if (seal.state === "bad") return [];
  const actual =
    seal.state === "good" ? `the seal's signature is by ${seal.signer} (${seal.key})` : "the seal is unsigned";
  const out: VerifyFinding[] = claims
    .filter(({ c }) =>
      seal.state === "good"
        ? c.kind !== "signed" || c.identity !== seal.signer || c.key !== seal.key
        : c.kind !== "unsigned",
    )
    .map(({ c, at }) => ({
      level: "error",
      subject: at,
      message: `names ${claimText(c)}, but ${actual}`,
      code: "SIGNER_MISMATCH",
    }));
  if (!out.length)
    out.push({
      level: "ok",
      subject: shown,
      message: `the session's block names who sealed it, as the signature says (${seal.state === "good" ? `${seal.signer}, ${seal.key}` : "unsigned"})`,
    });
  return out;
}

/**
 * Who `allowedSigners` says holds the key `fingerprint` ("ED25519 key SHA256:…"), before anything is
 * signed with it: the one identity it lists the key under, or why it names no one — the key under
 * several identities or a pattern (checkSignature's SIGNER_NOT_ALLOWED rule), not listed, or no list.
 * `shown`: the file as the words name it (never a path of this machine). The identity is the file's
 * text: whoever shows it quotes it.
 */
export function listedIdentity(
  allowedSigners: string,
  fingerprint: string,
  shown: string,
): { identity: string } | { none: string } {
  let text: string;
  try {
    text = fs.readFileSync(allowedSigners, "utf8");
  } catch {
    return { none: `${shown} was not found to say whose key it is` };
  }
  const names = identitiesOf(
    text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#")),
    fingerprint,
  );
  if (!names.length) return { none: `${shown} does not list this key` };
  if (!namesOnePerson(names))
    return { none: `${shown} lists this key for ${names.map((n) => quoted(n, 80)).join(", ")}, not for one person` };
  return { identity: names[0] };
}
