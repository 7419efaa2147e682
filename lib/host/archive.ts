/**
 * Sealing a session folder for the auditor: HTML export (nbconvert), the session report block,
 * the plots, a secret/card scan that refuses to finish on a hit, and manifest.json (hashes, chain
 * head, version, commit, retention date).
 * A folder is sealed once. Archiving a sealed folder whose seal still verifies writes nothing
 * ("already sealed"); one that changed since is refused with what changed and the fix, unless the
 * operator re-seals on purpose (`reseal`), which the trace records before the new seal covers it.
 * Over 300 lines: the intact, changed and fresh paths of one seal are kept in one readable order.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SecretLeakError, ArchiveSealed, SealSignError, SessionError, ToolError } from "../errors";
import { maskPayLink, PAY_LINK_MASKED_EVENT, PAY_LINK_SECRET } from "../evidence/outputs";
import { RESEAL_NOTE_EVENT } from "../evidence/reseal";
import { listedIdentity } from "../evidence/signer-line";
import { applySealRules, checkHtmlAgreement, exceptionReasonProblem, type SealException } from "./seal-rules";
import { describeHolder, heldByOther, lockHolder } from "../run/lock";
import { exportHtml } from "./jupyter";
import { Journal, firstOf } from "../evidence/journal";
import { STEPS } from "../run/steps";
import { MANIFEST_FILE, MANIFEST_TSR_FILE, SESSION_HTML, SESSION_NOTEBOOK, TRACE_FILE } from "../evidence/files";
import { type TsaConfig, requestTimestamp, tsaFromEnv } from "../evidence/timestamp";
import { manifestHash, writeManifest, type Manifest } from "../evidence/manifest";
import { secrets } from "../evidence/secrets";
import { hashIndex } from "../evidence/secret-hashes";
import { loadEvidence } from "../report/evidence";
import { docsHasSession, publishReport, signersBeside, writeSessionReport } from "../report/report";
import { deriveOutcome } from "../report/verdict";
import { findSecretHashes, formatHit, scanPaths, scanRegistry, scanText } from "../evidence/scan";
import { Trace } from "../evidence/trace";
import { sha256 } from "../evidence/canonical";
import { sealState } from "../evidence/verify";
import { readSessionSnapshot } from "../evidence/snapshot";
import { inRepo, repoRoot } from "../paths";
import {
  keyFingerprint,
  SEAL_NAMESPACE,
  SIGNATURE_FILE,
  resolveSignKey,
  signFile,
  signKeyProblem,
  signSeal,
} from "../evidence/signature";

export interface ArchiveResult {
  dir: string;
  /**
   * sealed: first seal · resealed: sealed again on purpose, recorded in the trace · already-sealed:
   * nothing written · signed: already sealed and intact, its unsigned seal now signed (issue 24).
   */
  status: "sealed" | "resealed" | "already-sealed" | "signed";
  /** The signature beside the manifest (manifest.json.sig), or null when sealed unsigned (no key). */
  signature: string | null;
  /** When the seal in force was made (manifest.json's created_at). */
  sealedAt: string;
  manifest: Manifest;
  manifestSha256: string;
  html: string | null;
  /** Who wrote the HTML: the executor that ran the notebook (one Python process) or nbconvert's command line. */
  htmlVia: "executor" | "nbconvert" | null;
  scannedFiles: number;
  outcome: string;
  docsReport: string | null;
  /** The RFC 3161 token written beside the manifest (issue 24 §5), when an authority is configured. */
  timestamp?: { file: string; time: string | null } | null;
}

export function toolVersion(): string {
  try {
    return String(JSON.parse(fs.readFileSync(inRepo("package.json"), "utf8")).version);
  } catch {
    return "unknown";
  }
}

export interface ArchiveOptions {
  /** Secret values of this run that the scan must not find (tokens, passwords, keys). */
  extraSecrets?: Array<string | undefined>;
  /** Skip the nbconvert HTML export (tests of the archive logic alone). */
  html?: boolean;
  /** Where the living report and the GO/NO-GO checklist live (default `docs`). */
  docsDir?: string;
  /**
   * Seal again, on purpose, a folder that changed since it was sealed (evidence added by
   * confirm-bank, a notebook re-run): the written reason (≥ REASON_MIN characters) goes into the
   * trace note with the previous manifest hash. Refused when the trace's sealed lines changed or a
   * sealed file is gone.
   */
  reseal?: string;
  /**
   * The operator's SSH private key that signs the seal (issue 24): default $PAYMENT_E2E_SIGN_KEY,
   * else git's user.signingkey when gpg.format is ssh. Without one the seal is unsigned, which
   * verify reports as an error for staging and live.
   */
  signKey?: string;
  /** Write the kernel's copy of the outputs (outputs.jsonl) back into a notebook that lacks them; recorded in the trace. */
  restoreOutputs?: boolean;
  /** Seal a session with money moved and no successful refund, for this written reason (journaled; the report says so). */
  unrefunded?: string;
  /** Seal an incomplete run (a cell threw or never ran, the executor stopped), never as PASS, for this written reason. */
  incomplete?: string;
  /** The time-stamping authority (default: from PAYMENT_E2E_TSA_URL / _CA / _CERT; null: none). */
  tsa?: TsaConfig | null;
}

/** The shortest re-seal reason accepted: a sentence, not "ok". */
export const RESEAL_REASON_MIN = 10;

/** Null when the reason will do, else the one-line refusal naming the fix. */
export function resealReasonProblem(reason: string | undefined, dir = "<session-dir>"): string | null {
  if (reason !== undefined && reason.trim().length >= RESEAL_REASON_MIN) return null;
  return `--reseal needs a written reason of at least ${RESEAL_REASON_MIN} characters, recorded in the trace: npm run archive -- ${dir} --reseal "bank statement confirmed the refund"`;
}

export async function archiveSession(dir: string, opts: ArchiveOptions = {}): Promise<ArchiveResult> {
  // Sealed while a kernel still writes to it, the folder would change under its seal.
  const holder = lockHolder(dir);
  if (heldByOther(holder))
    throw new SessionError(
      `${dir} is still open in a kernel (${describeHolder(holder)}): save and close the notebook and shut its kernel down, then archive`,
    );
  const tsa = opts.tsa === undefined ? tsaFromEnv() : opts.tsa;
  // Read once for the seal check and, when the seal is intact, the outcome it reports.
  const snap = readSessionSnapshot(dir);
  const seal = sealState(snap);
  const signKey = resolveSignKey(opts.signKey, repoRoot());
  // A missing key file is refused before anything is written (ssh-keygen itself may still refuse later).
  const keyProblem = signKey === null ? null : signKeyProblem(signKey);
  if (keyProblem) throw new SealSignError(keyProblem);
  if (seal.state === "intact") {
    const html = path.join(dir, SESSION_HTML);
    const sig = path.join(dir, SIGNATURE_FILE);
    // An intact seal made without a key (or before signatures) is signed as it stands, on request.
    const signNow = opts.signKey !== undefined && !fs.existsSync(sig);
    if (signNow) signFile(path.join(dir, MANIFEST_FILE), opts.signKey as string, SEAL_NAMESPACE);
    // An intact seal without a token gets one when an authority is configured now.
    const stamped =
      tsa && !fs.existsSync(path.join(dir, MANIFEST_TSR_FILE))
        ? await requestTimestamp(dir, seal.manifestSha256, tsa)
        : null;
    // Signed now: the living report's block names the signer and the GO/NO-GO row may rest on it.
    // Published too when the living report lacks the block a staging or live seal publishes: the
    // publishing after the seal failed (its end marker lost, a full disk) and the seal stood.
    const docs = opts.docsDir ?? "docs";
    const docsReport = path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md");
    const unpublished = seal.manifest.mode !== "sandbox" && !docsHasSession(docsReport, seal.manifest.session_id);
    const published =
      signNow || unpublished
        ? publishReport(dir, {
            docsReport,
            checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
          })
        : null;
    return {
      timestamp: stamped,
      dir,
      status: signNow ? "signed" : "already-sealed",
      signature: fs.existsSync(sig) ? sig : null,
      sealedAt: seal.manifest.created_at,
      manifest: seal.manifest,
      manifestSha256: seal.manifestSha256,
      html: fs.existsSync(html) ? html : null,
      htmlVia: null,
      scannedFiles: 0,
      outcome: deriveOutcome(loadEvidence(snap)).outcome,
      docsReport: published?.docs?.path ?? null,
    };
  }
  if (seal.state === "changed" && (opts.reseal === undefined || !seal.resealable))
    throw new ArchiveSealed(dir, seal.manifest?.created_at ?? null, seal.what, seal.fix);
  if (seal.state === "changed") {
    const problem = resealReasonProblem(opts.reseal, dir);
    if (problem) throw new ArchiveSealed(dir, seal.manifest?.created_at ?? null, seal.what, problem);
  }
  for (const flag of ["unrefunded", "incomplete"] as const) {
    const problem = exceptionReasonProblem(flag, opts[flag], dir);
    if (problem) throw new ToolError("E2E_PARAMS", problem);
  }

  // The manifest's commit, asked of git now: its process runs while the checks below do.
  const commit = gitCommitAhead(repoRoot());
  // Whatever refuses the seal from here to the manifest leaves no unscanned export behind.
  const progress = { exported: false };
  let ready: Ready;
  try {
    ready = await readyToSeal(dir, seal, opts, signKey, progress);
  } catch (err) {
    dropUnscannedExport(dir, seal.state, progress.exported);
    throw err;
  }
  const { sessionId, mode, html, htmlVia, scanned } = ready;

  const trace = Trace.open(path.join(dir, TRACE_FILE));
  const manifest = writeManifest(dir, {
    sessionId,
    mode,
    chainHead: trace.head,
    traceLines: trace.seq,
    toolVersion: toolVersion(),
    gitCommit: await commit,
    // Dated now, a re-seal too (the trace records the seal it replaced).
    createdAt: new Date().toISOString(),
  });
  const replaced =
    seal.state === "changed" && seal.manifest && seal.manifestSha256
      ? { manifest: seal.manifest, sha256: seal.manifestSha256, reason: opts.reseal ?? "" }
      : null;
  const signature = signSeal(dir, manifest, replaced, signKey);
  // After the seal: the docs report's block now names the manifest hash (staging and live only,
  // or a sandbox session already published there); the sealed folder itself is left untouched.
  const timestamp = tsa ? await requestTimestamp(dir, manifestHash(dir), tsa) : null;
  const docs = opts.docsDir ?? "docs";
  const published = publishReport(dir, {
    docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
    checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  });
  return {
    dir,
    status: seal.state === "changed" ? "resealed" : "sealed",
    signature,
    sealedAt: manifest.created_at,
    manifest,
    manifestSha256: manifestHash(dir),
    html,
    htmlVia,
    scannedFiles: scanned,
    outcome: published.session.outcome,
    docsReport: published.docs?.path ?? null,
    timestamp,
  };
}

/**
 * HEAD of the git work tree at `cwd`, or null outside git: lib/evidence/manifest.ts currentGitCommit
 * (same command, same check), without blocking. A git call takes about 3 ms on a quiet machine and
 * about 100 ms on a loaded one (bench P1), which the seal's checks now overlap. Never rejects.
 */
export function gitCommitAhead(cwd: string): Promise<string | null> {
  return new Promise((resolve) => {
    try {
      execFile("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8" }, (err, out) => {
        const head = err ? "" : out.trim();
        resolve(/^[0-9a-f]{40,64}$/.test(head) ? head : null);
      });
    } catch {
      resolve(null);
    }
  });
}

/** What the checks before the manifest hand to the seal. */
interface Ready {
  sessionId: string;
  mode: string;
  html: string | null;
  htmlVia: ArchiveResult["htmlVia"];
  scanned: number;
}

/**
 * Everything before the manifest: the journal's tail, the pay links, the seal rules, the re-seal
 * note, the HTML export, the session report block and the scans. Throws to refuse the seal;
 * `progress.exported` says whether the HTML export was started.
 */
async function readyToSeal(
  dir: string,
  seal: ReturnType<typeof sealState>,
  opts: ArchiveOptions,
  signKey: string | null,
  progress: { exported: boolean },
): Promise<Ready> {
  const journal = Journal.open(dir);
  // A kernel killed mid-write leaves a torn last line: quarantined and recorded before the seal
  // reads the chain heads (the manifest refuses a torn journal).
  journal.repairTail();
  const created = firstOf(journal.all(), "session_created");
  if (!created) throw new SessionError(`journal of ${dir} holds no session_created: not a session journal`);
  const sessionId = created.data.sessionId;
  const mode = created.data.mode;
  const nb = path.join(dir, SESSION_NOTEBOOK);
  // Before the HTML is exported from it and before the scan: see maskPayLinks.
  const masked = fs.existsSync(nb) ? maskPayLinks(dir, nb, journal) : null;
  // Before anything is exported or sealed: the notebook agrees with the kernel's copy and the
  // journal, the run is complete, no money is left out (or a written reason says why; seal-rules.ts).
  const exceptions = applySealRules(dir, journal, opts);
  // A reason is operator text, journaled for good once the seal goes ahead: scanned before anything
  // is exported, so a token pasted into it refuses the seal instead of staying in the journal.
  const registry = scanRegistry({ registry: secrets });
  for (const s of opts.extraSecrets ?? []) registry.add(s, "run secret");
  const inReasons = exceptions.flatMap((x) =>
    scanText(x.reason, `--${x.rule} "<reason>"`, registry, false, hashIndex(findSecretHashes([dir]))),
  );
  if (inReasons.length) throw new SecretLeakError(inReasons.map(formatHit), dir);

  if (seal.state === "changed") {
    // A deliberate re-seal is evidence too: the trace says when, over which seal, and why, and the
    // replaced seal's chain heads, which verify checks are still the chains' hashes (issue 24 §2).
    const fp = signKey === null ? null : keyFingerprint(signKey);
    const signers = signersBeside(path.join(opts.docsDir ?? "docs", "PAYMENT_E2E_LIVE_REPORT.md"));
    const shownSigners = `${path.basename(path.dirname(signers))}/${path.basename(signers)}`;
    const signer =
      signKey === null
        ? null
        : fp === null
          ? { none: "its fingerprint could not be read to look it up" }
          : listedIdentity(signers, fp, shownSigners);
    const t = Trace.open(path.join(dir, TRACE_FILE));
    t.append("note", {
      event: RESEAL_NOTE_EVENT,
      reason: opts.reseal?.trim(),
      // Who: the key that signs this re-seal and its statement (its fingerprint, never the key), or null: unsigned.
      signed_with: signKey === null ? null : (fp ?? "a key whose fingerprint ssh-keygen could not read"),
      // And whom the allowed signers list for that key, as they read now (report.md is written before
      // the statement is signed): one identity, or why no one is named. Absent when unsigned.
      ...(signer === null
        ? {}
        : "identity" in signer
          ? { signer_identity: signer.identity, allowed_signers: shownSigners }
          : { signer_unnamed: signer.none }),
      previous_manifest_sha256: seal.manifestSha256,
      previous_sealed_at: seal.manifest?.created_at ?? null,
      previous_trace_head: seal.manifest?.chain_head ?? null,
      previous_trace_lines: seal.manifest?.trace_lines ?? null,
      previous_journal_head: seal.manifest?.journal_head ?? null,
      previous_journal_lines: seal.manifest?.journal_lines ?? null,
      changes: seal.changes.map((c) => `${c.path}: ${c.words}`),
    });
    t.close();
    // The old seal's timestamp covers the old manifest: kept, under a name the new seal lists.
    const tsr = path.join(dir, MANIFEST_TSR_FILE);
    if (fs.existsSync(tsr) && seal.manifestSha256)
      fs.renameSync(tsr, path.join(dir, `manifest.previous-${seal.manifestSha256.slice(0, 12)}.tsr`));
  }

  let html: string | null = null;
  let htmlVia: ArchiveResult["htmlVia"] = null;
  if (opts.html !== false && fs.existsSync(nb)) {
    progress.exported = true;
    // The page says what no cell shows: a seal exception, the link masked, a re-seal (report.md lists the last two too).
    const said = [
      sealedAsNote(exceptionsInForce(journal, exceptions)),
      masked
        ? `The checkout link's client secret was masked in this notebook by npm run archive before sealing (${masked.links} link${masked.links === 1 ? "" : "s"}; ${masked.why}).`
        : undefined,
      seal.state === "changed"
        ? `Re-sealed on purpose by npm run archive --reseal, replacing the seal of ${seal.manifest?.created_at ?? "an unknown time"}, with the reason "${maskPayLink(opts.reseal?.trim() ?? "")}".`
        : undefined,
    ].filter((x): x is string => Boolean(x));
    ({ html, via: htmlVia } = await exportHtml(nb, { sealedAs: said.length ? said.join(" ") : undefined }));
  }
  // The page the auditor opens is the notebook as it is now, cell by cell (seal rule 4), before any
  // exception is journaled; a refusal removes the page this run exported (dropUnscannedExport).
  checkHtmlAgreement(dir);
  // The session's own block goes in before the seal, so the manifest covers it.
  let written = writeSessionReport(dir, { sealing: true });

  // This process's secrets (env, tokens it obtained) and the caller's, by value; the kernel's
  // (tokens, the checkout's client secret) by the salted hashes it left in the folder, which
  // scanPaths loads from SECRET_HASHES_FILE: a token learned in another process is found too.
  let scanned = 0;
  const hits = scanPaths([dir], { registry, extensions: "all", onFile: () => scanned++ });
  if (hits.length) throw new SecretLeakError(hits.map(formatHit), dir);
  if (exceptions.length) {
    // Journaled only now the seal goes ahead (review 8): a refused seal leaves none behind. The report
    // block is written again to read them, and the folder scanned again (a reason is operator text).
    for (const x of exceptions) journal.append("seal_exception", { ...x });
    written = writeSessionReport(dir, { sealing: true });
    const again = scanPaths([dir], { registry, extensions: "all" });
    if (again.length) throw new SecretLeakError(again.map(formatHit), dir);
  }
  // The outcome report.md states, journaled as the journal's last entry before the manifest: both
  // verifiers hold report.md to it, `npm run verify` holds it to the verdict derived from the journal.
  journal.append("outcome_stated", {
    by: "seal",
    outcome: written.outcome,
    reason: written.reason,
    money_moved: written.evidence.moneyMoved,
  });

  return { sessionId, mode, html, htmlVia, scanned };
}

/**
 * The seal exceptions the page states: this seal's, and those an earlier seal of the folder journaled,
 * which a re-seal is not asked again (seal-rules.ts `sealedWith`) but which still hold; the latest per rule.
 */
function exceptionsInForce(journal: Journal, now: SealException[]): SealException[] {
  const byRule = new Map<string, SealException>();
  for (const e of journal.all()) if (e.kind === "seal_exception") byRule.set(e.data.rule, e.data);
  for (const x of now) byRule.set(x.rule, x);
  return [...byRule.values()];
}

/**
 * What the auditor's page says under its heading about a seal exception, which no cell can show: a
 * report cell run before a later cell threw still shows PASS in the notebook, while the sealed outcome
 * (report.md, the journal's `seal_exception`) is never PASS. Undefined when there is none.
 */
export function sealedAsNote(exceptions: SealException[]): string | undefined {
  const words = exceptions.map((x) =>
    x.rule === "incomplete"
      ? `Sealed as incomplete (${(x.what ?? []).join("; ") || "see the trace"}), with the reason "${x.reason}": the sealed outcome is never PASS, whatever a cell below shows; report.md holds it.`
      : `Sealed with money moved and not refunded through the runbook, with the reason "${x.reason}".`,
  );
  return words.length ? words.join(" ") : undefined;
}

/**
 * A refused seal leaves no unscanned export behind (issue 22 §7): the HTML is removed whenever this
 * run started exporting it (it failed the scan, or the scan, a seal rule's second look or the report
 * block never got to it: a full disk, an unreadable hashes file). A folder never sealed holds no
 * export of its own, so one left by an archive killed mid-way is removed too; a sealed folder's is
 * kept when this run did not touch it.
 */
function dropUnscannedExport(dir: string, state: ReturnType<typeof sealState>["state"], exported: boolean): void {
  if (exported || state === "unsealed") fs.rmSync(path.join(dir, SESSION_HTML), { force: true });
}

/**
 * The pay link at seal time (issue 13 §7). Step 4 shows the checkout link, whose `client_secret`
 * lets anyone holding it open that payment's checkout, in an updatable output that the paid cell
 * overwrites once the payment is confirmed. If step 4 never passed (abandoned, failed, the kernel
 * died), the link is still in the notebook. It is masked here, before the HTML is exported and
 * before the seal, and the trace says so ("pay link masked at seal: step 4 never ran") with the
 * notebook's SHA-256 before and after, so the change is itself sealed evidence.
 *
 * Why mask rather than refuse the seal: refusing would leave the session unsealed with the secret
 * still in it, and the only ways out are a hand edit of the evidence (unrecorded) or paying an
 * order the operator may have meant to abandon. Masking removes the secret, keeps everything an
 * auditor relies on (the journal's order and payment ids, the step result, the link's presence),
 * and records itself. A sealed folder is never touched: this runs only before a (re-)seal.
 * A notebook that would not be valid JSON after masking is left alone and the scan then refuses it.
 */
export function maskPayLinks(dir: string, nb: string, journal: Journal): { links: number; why: string } | null {
  const before = fs.readFileSync(nb, "utf8");
  let links = 0;
  const after = before.replace(PAY_LINK_SECRET, (_m, key: string) => {
    links++;
    return `${key}[REDACTED]`;
  });
  if (links === 0) return null;
  try {
    JSON.parse(after);
  } catch {
    return null;
  }
  const t = Trace.open(path.join(dir, TRACE_FILE));
  const pay = `step ${STEPS.find((d) => d.movesMoney)?.n ?? "?"}`;
  const why = journal.last("payment_confirmed") ? `${pay} passed, but the notebook kept the link` : `${pay} never ran`;
  t.append("note", {
    event: `${PAY_LINK_MASKED_EVENT}: ${why}`,
    file: SESSION_NOTEBOOK,
    links,
    sha256_before: sha256(before),
    sha256_after: sha256(after),
  });
  t.close();
  // Atomically: a crash leaves the old notebook or the masked one, never half of either.
  const tmp = `${nb}.${process.pid}.masking`;
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, after);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, nb);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { links, why };
}
