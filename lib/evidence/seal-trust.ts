/**
 * Whether a sealed session folder is evidence someone vouched for (issue 24 §4): the one check the
 * live gate makes of a staging dry run (lib/run/dry-run.ts) and the GO/NO-GO row makes of a live
 * session (lib/report/paperwork.ts). The seal verifies (files unchanged since it, chains intact, what
 * the folder states agrees with the journal: ./verify.ts), the journal is chained, the seal and every
 * re-seal statement are signed by a signer in the allowed-signers list (./signature.ts), the living
 * report's anchors do not disagree with the folder (./anchor.ts; the gate also needs the anchor
 * committed), and that list is the committed one: a key added to the working copy and never
 * reviewed vouches for nothing. The answer is the signer, or one clause naming the fix.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { MANIFEST_FILE } from "./files";
import type { JournalEntry } from "./journal";
import type { Manifest } from "./manifest";
import { type SessionSnapshot, readSessionSnapshot } from "./snapshot";
import { type VerifyFinding, trustedEntries, verifySession } from "./verify";
import { checkAnchors } from "./anchor";
import { DEFAULT_ALLOWED_SIGNERS, SEAL_NAMESPACE, checkSignature, signatureFindings } from "./signature";
import { repoRoot } from "../paths";
import type { Mode, Outcome } from "../types";

/** What the check trusts: the repository whose history holds the report, the report, the allowed signers. */
export interface TrustOptions {
  /** Default: the git repository that holds the session folder (its committed docs/ are what is trusted), else the tool's. */
  repoDir?: string;
  /** Default: docs/PAYMENT_E2E_LIVE_REPORT.md under repoDir. */
  reportFile?: string;
  /** Default: docs/allowed_signers under repoDir. */
  allowedSigners?: string;
}

export interface SealTrustOptions extends TrustOptions {
  /** The mode the folder must be sealed as (its name is the session id it must seal). */
  mode: Mode;
  /** committed: the anchor must be in the committed living report (the live gate) · consistent: no anchor may disagree. */
  anchor: "committed" | "consistent";
  /** What to do when the evidence itself cannot be trusted, e.g. "run a new staging dry run". */
  redo: string;
  /** Checks a higher layer makes of the intact journal (the stated outcomes against the derived verdict). */
  judge?: (snap: SessionSnapshot, entries: readonly JournalEntry[] | null) => VerifyFinding[];
}

/**
 * How a layer above this one reads an intact sealed journal (lib/report/outcome-check.ts
 * `outcomeJudge`): the stated outcomes against the verdict derived from the journal, and that verdict.
 * Handed down to the live gate (lib/run/dry-run.ts), which cannot import the report layer.
 */
export interface OutcomeJudge {
  findings: NonNullable<SealTrustOptions["judge"]>;
  /** The verdict derived from the whole journal, or why it cannot be derived. */
  verdict: (snap: SessionSnapshot) => { outcome: Outcome; reason: string } | string;
}

export type SealTrust =
  | { ok: true; manifest: Manifest; manifestSha256: string; signer: string; key: string }
  | { ok: false; problem: string };

/** The work tree of the git repository holding `dir`, or null outside one. */
export function repositoryOf(dir: string): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--show-toplevel"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 10_000,
    }).trim();
  } catch {
    return null;
  }
}

/** The options with their defaults for a session folder. */
export function trustFor(dir: string, o: TrustOptions = {}): Required<TrustOptions> {
  const repoDir = o.repoDir ?? repositoryOf(dir) ?? repoRoot();
  return {
    repoDir,
    reportFile: o.reportFile ?? path.join(repoDir, "docs", "PAYMENT_E2E_LIVE_REPORT.md"),
    allowedSigners: o.allowedSigners ?? path.join(repoDir, DEFAULT_ALLOWED_SIGNERS),
  };
}

/**
 * Why `file` is not the committed copy in `repoDir` (untracked, or changed against HEAD, staged or
 * not), or null when it is. The signer list decides whose seal counts, so a key added to the working
 * copy and never committed (never reviewed, absent from history) must not count.
 */
function uncommittedProblem(repoDir: string, file: string): string | null {
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: repoDir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
  try {
    git("ls-files", "--error-unmatch", "--", path.resolve(file));
  } catch {
    return `is not committed in ${repoDir}`;
  }
  try {
    git("diff", "--quiet", "HEAD", "--", path.resolve(file));
  } catch {
    return "differs from its committed version";
  }
  return null;
}

/**
 * The sealed folder as evidence someone vouched for: its signer, or why not in one clause with the
 * fix. Never throws for evidence problems.
 * @example sealTrust("archive/payment-e2e/20261126T154400Z-live", { mode: "live", anchor: "consistent", redo: "…" })
 */
export function sealTrust(session: string | SessionSnapshot, o: SealTrustOptions): SealTrust {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const dir = snap.dir;
  const no = (problem: string): SealTrust => ({ ok: false, problem });
  if (!snap.sealed) return no(`not sealed — run npm run archive -- ${dir}`);
  const v = verifySession(snap);
  if (!v.ok) {
    const first = v.findings.find((f) => f.level === "error");
    return no(
      `fails verify (${first ? `${first.subject}: ${first.message}` : "see npm run verify"}) — run npm run verify -- ${dir}`,
    );
  }
  const judged = o.judge?.(snap, trustedEntries(snap)).find((f) => f.level === "error");
  if (judged) return no(`fails verify (${judged.subject}: ${judged.message}) — run npm run verify -- ${dir}`);
  const m = v.manifest;
  const name = path.basename(dir);
  if (!m || m.mode !== o.mode || m.session_id !== name)
    return no(
      `its manifest seals session ${m?.session_id ?? "none"} in mode ${m?.mode ?? "none"}, not this ${o.mode} folder — ${o.redo}`,
    );
  // A journal written before entries were chained: its results cannot be trusted.
  if (!v.journal?.chained)
    return no(`journal not chained (written by an older tool): its results cannot be trusted — ${o.redo}`);

  const t = trustFor(dir, o);
  const shownSigners = path.relative(t.repoDir, t.allowedSigners) || t.allowedSigners;
  const sig = checkSignature(path.join(dir, MANIFEST_FILE), t.allowedSigners, SEAL_NAMESPACE);
  if (sig.state === "unsigned")
    return no(
      `its seal is unsigned (sealed without a key, or before signatures): after checking it, an allowed signer signs it — npm run archive -- ${dir} --sign-key <key>`,
    );
  if (sig.state === "bad")
    return no(
      `its seal does not count: ${sig.why}${sig.signers ? "" : ` — only a seal by a signer in ${shownSigners} is trusted; an allowed signer seals it (npm run archive -- ${dir} --sign-key <key>), or ${o.redo}`}`,
    );
  const reseal = signatureFindings(dir, m, { allowedSigners: t.allowedSigners }, sig).find((f) => f.level === "error");
  if (reseal) return no(`${reseal.subject}: ${reseal.message} — ${o.redo}`);
  const anchors = checkAnchors(snap, { repoDir: t.repoDir, reportFile: t.reportFile });
  const bad = anchors.find((f) => f.level === "error");
  if (bad) return no(`its anchor disagrees (${bad.subject}: ${bad.message}) — run npm run verify -- ${dir}`);
  if (o.anchor === "committed" && !anchors.some((f) => f.level === "ok" && f.kind === "anchor_committed")) {
    const why = anchors.find((f) => f.level === "warning");
    return no(
      `its anchor is not committed in the living report (${why?.message ?? "no anchor"}) — publish it (npm run report -- ${dir}) and commit docs/PAYMENT_E2E_LIVE_REPORT.md`,
    );
  }
  // Last: whose seal counts is the committed list's word, not the working copy's.
  const uncommitted = uncommittedProblem(t.repoDir, t.allowedSigners);
  if (uncommitted)
    return no(
      `${shownSigners} ${uncommitted}: only the committed signer list is trusted — commit it in a reviewed change, or restore it (git checkout -- ${shownSigners})`,
    );
  return { ok: true, manifest: m, manifestSha256: snap.manifestSha256 ?? "", signer: sig.signer, key: sig.key };
}
