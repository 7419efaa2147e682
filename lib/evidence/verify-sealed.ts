/**
 * The whole check `npm run verify` makes of a session folder (lib/cli/verify.ts reads the flags and
 * prints): the folder against its manifest (./verify.ts), against the anchors the living report holds
 * for it, now and in its git history (./anchor.ts) and the outcome its block there states
 * (./outcome-stated.ts), the seal's signature and re-seal statements
 * against the allowed signers (./signature.ts), and the RFC 3161 timestamp when there is one
 * (./timestamp.ts; issue 24). One result: every finding, and the fix of the first check that failed
 * in that order.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { anchorFix, checkAnchors } from "./anchor";
import { livingReportFindings } from "./outcome-stated";
import { DEFAULT_ALLOWED_SIGNERS, SEAL_NAMESPACE, checkSignature, signatureFindings } from "./signature";
import { signerLineFindings } from "./signer-line";
import { MANIFEST_FILE } from "./files";
import { timestampFindings } from "./timestamp";
import type { JournalEntry } from "./journal";
import { readSessionSnapshot, type SessionSnapshot } from "./snapshot";
import { trustedEntries, type VerifyFinding, type VerifyResult, verifySession } from "./verify";

export interface SealedCheck {
  /** The living report whose anchors are checked, as the operator named it (relative to `repoDir`); null: not checked, and said so. */
  report: string | null;
  /** The repository the report, its git history and the default allowed signers are in. */
  repoDir: string;
  /** Who may seal staging and live sessions, as named; default `<repoDir>/docs/allowed_signers`. */
  allowedSigners?: string;
  /** The time-stamping authority's CA certificate, and its own certificate when tokens lack it. */
  tsaCa: string | null;
  tsaCert: string | null;
  /**
   * Checks a higher layer makes of the intact journal (`npm run verify`: the stated outcomes against
   * the verdict derived from it, lib/report/outcome-check.ts); given the journal's entries, or null
   * when the journal cannot be trusted.
   */
  judge?: (snap: SessionSnapshot, entries: readonly JournalEntry[] | null) => VerifyFinding[];
}

/** Every check of a sealed folder, in the order whose first failure names the fix. */
export function verifySealed(dir: string, o: SealedCheck): VerifyResult {
  // Read once (issue 21 item 5): the seal, the anchors and the timestamp are judged on one snapshot.
  const snap = readSessionSnapshot(dir);
  const result = verifySession(snap);
  if (o.judge) {
    const judged = o.judge(snap, trustedEntries(snap));
    result.findings.push(...judged);
    if (judged.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `the journal's verdict is not what the folder states: do not rely on this seal; re-derive the report from the journal (npm run report -- ${dir}) and re-seal with a written reason (npm run archive -- ${dir} --reseal "<reason>")`;
    }
  }
  if (o.report === null) {
    result.findings.push({ level: "warning", subject: "anchor", message: "not checked (--no-anchor)" });
  } else {
    const reportFile = path.resolve(o.repoDir, o.report);
    const anchors = checkAnchors(snap, { reportFile, repoDir: o.repoDir });
    result.findings.push(...anchors);
    if (anchors.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= anchorFix(anchors, dir, o.report);
    }
    // The block the auditor reads states the sealed outcome, not only the sealed hashes.
    const text = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, "utf8") : null;
    const living = livingReportFindings(snap, trustedEntries(snap), text, o.report);
    result.findings.push(...living);
    if (living.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `the session's block in ${o.report} states another outcome than its seal recorded: re-render it from the sealed folder (npm run report -- ${dir}) and commit ${o.report}`;
    }
  }
  // Issue 24: who sealed it. After the anchors, whose fix (restore from the commit) is the more specific one.
  if (result.manifest) {
    const allowed = o.allowedSigners ?? path.join(path.resolve(o.repoDir), DEFAULT_ALLOWED_SIGNERS);
    const seal = checkSignature(path.join(dir, MANIFEST_FILE), allowed, SEAL_NAMESPACE);
    const sig = signatureFindings(dir, result.manifest, { allowedSigners: allowed }, seal);
    result.findings.push(...sig);
    if (sig.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `a ${result.manifest.mode} seal counts only when signed by a key in ${o.allowedSigners ?? DEFAULT_ALLOWED_SIGNERS}: restore manifest.json and its .sig from the committed copy (git checkout -- ${dir}), or have an allowed signer seal it (npm run archive -- ${dir} --sign-key <key>)`;
    }
    // The block names who sealed it: the signature's signer, never another.
    if (o.report !== null) {
      const reportFile = path.resolve(o.repoDir, o.report);
      const text = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, "utf8") : null;
      const named = signerLineFindings(snap, text, o.report, seal);
      result.findings.push(...named);
      if (named.some((f) => f.level === "error")) {
        result.ok = false;
        result.fix ??= `the session's block in ${o.report} names another signer than the seal's signature: re-render it from the sealed folder (npm run report -- ${dir}) and commit ${o.report}`;
      }
    }
  }
  if (result.manifest) {
    const stamp = timestampFindings(dir, snap.manifestSha256 ?? "", o.tsaCa, o.tsaCert);
    result.findings.push(...stamp);
    if (stamp.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `restore manifest.json and manifest.json.tsr from the commit that sealed them (git checkout -- ${dir})`;
    }
  }
  return result;
}
