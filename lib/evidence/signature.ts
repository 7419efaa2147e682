/**
 * Signed seals (issue 24 §1–2). The archive signs manifest.json with the operator's SSH key
 * (`ssh-keygen -Y sign`, namespace SEAL_NAMESPACE) into manifest.json.sig beside it; a re-seal also
 * writes reseal-<k>.json (old manifest hash, new manifest hash, reason, the replaced seal's chain
 * heads) signed under RESEAL_NAMESPACE. docs/allowed_signers (ssh-keygen's format) says who may seal
 * staging and live sessions. Both verifiers check with `ssh-keygen -Y find-principals` then
 * `ssh-keygen -Y verify` and name the signer. A staging or live seal without a valid signature by an
 * allowed signer is an error; a sandbox seal may be unsigned (a signature present is still checked).
 * What a re-seal must prove is ./reseal.ts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SealSignError } from "../errors";
import { canonicalJson } from "./canonical";
import { RESEAL_SCHEMA, type ResealStatement, resealStatements, statementFindings } from "./reseal";
import { MANIFEST_FILE, MANIFEST_SIG_FILE } from "./files";
import type { Manifest } from "./manifest";
import type { VerifyFinding } from "./verify";
import type { FindingCode } from "./finding-codes";

export const SEAL_NAMESPACE = "payment-e2e-seal@v1";
export const RESEAL_NAMESPACE = "payment-e2e-reseal@v1";
/** manifest.json.sig: a seal companion (lib/evidence/files.ts), never listed in the manifest. */
export const SIGNATURE_FILE = MANIFEST_SIG_FILE;
/** The committed list of who may seal staging and live sessions (relative to the repository). */
export const DEFAULT_ALLOWED_SIGNERS = "docs/allowed_signers";
export const SIGN_KEY_ENV = "PAYMENT_E2E_SIGN_KEY";

/**
 * The operator's signing key: `--sign-key`, else $PAYMENT_E2E_SIGN_KEY, else git's user.signingkey
 * when gpg.format is ssh (a private key path, or a .pub whose private key lies beside it); or null.
 */
export function resolveSignKey(explicit?: string, cwd = process.cwd()): string | null {
  if (explicit) return explicit;
  if (process.env[SIGN_KEY_ENV]) return process.env[SIGN_KEY_ENV] as string;
  const get = (k: string) => {
    try {
      return execFileSync("git", ["config", "--get", k], {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    } catch {
      return "";
    }
  };
  const key = get("user.signingkey");
  if (!key || get("gpg.format") !== "ssh" || key.startsWith("key::") || key.startsWith("ssh-")) return null;
  const abs = key.startsWith("~/") ? path.join(os.homedir(), key.slice(2)) : key;
  return abs.endsWith(".pub") && fs.existsSync(abs.slice(0, -4)) ? abs.slice(0, -4) : abs;
}

/** Null when `key` is a readable file, else the one-line problem naming the fix. */
export function signKeyProblem(key: string): string | null {
  return fs.existsSync(key) && fs.statSync(key).isFile()
    ? null
    : `signing key ${key} not found: pass --sign-key <SSH private key> or set ${SIGN_KEY_ENV}`;
}

/**
 * The key's type and fingerprint as `ssh-keygen -Y verify` names a signer's key ("ED25519 key
 * SHA256:…"), read with `ssh-keygen -l` (no passphrase needed), or null when ssh-keygen cannot read it.
 * The key's comment is left out: it is the key holder's own label, not an identity anyone checked.
 */
export function keyFingerprint(key: string): string | null {
  const r = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", key], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    timeout: 10_000,
  });
  const m = /^\d+ (SHA256:[A-Za-z0-9+/=]+) .*\(([A-Z0-9-]+)\)\s*$/m.exec(r.stdout ?? "");
  return m ? `${m[2]} key ${m[1]}` : null;
}

/** Signs `file` into `file.sig` (replacing an old one); throws with ssh-keygen's words on failure. */
export function signFile(file: string, key: string, namespace: string): string {
  const problem = signKeyProblem(key);
  if (problem) throw new SealSignError(problem);
  const sig = `${file}.sig`;
  fs.rmSync(sig, { force: true });
  const r = spawnSync("ssh-keygen", ["-Y", "sign", "-f", key, "-n", namespace, file], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 30_000,
  });
  if (r.error || r.status !== 0 || !fs.existsSync(sig))
    throw new SealSignError(
      `ssh-keygen -Y sign failed with ${key}: ${(r.stderr || String(r.error ?? "")).trim().split("\n").pop()} (a key with a passphrase needs ssh-agent; OpenSSH ≥ 8.2)`,
    );
  return sig;
}

export type SignatureCheck =
  | { state: "unsigned" }
  | { state: "good"; signer: string; key: string }
  /** `signers`: the allowed-signers file is missing or lists no one (the why already says the fix). */
  | { state: "bad"; why: string; code: FindingCode; signers?: "missing" | "empty" };

/** Checks `file.sig` over `file` against an allowed_signers file: who signed it, or why it does not count. */
export function checkSignature(file: string, allowedSigners: string, namespace: string): SignatureCheck {
  const sig = `${file}.sig`;
  if (!fs.existsSync(sig)) return { state: "unsigned" };
  if (!fs.existsSync(allowedSigners))
    return {
      state: "bad",
      why: `${allowedSigners} not found: pass --allowed-signers <file>`,
      code: "SIGNER_NOT_ALLOWED",
      signers: "missing",
    };
  const signers = fs
    .readFileSync(allowedSigners, "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"));
  if (!signers.length)
    return {
      state: "bad",
      why: `${allowedSigners} lists no signer: add the operator's public key (see the file's header)`,
      code: "SIGNER_NOT_ALLOWED",
      signers: "empty",
    };
  const run = (args: string[], input?: Buffer) =>
    spawnSync("ssh-keygen", args, { input, encoding: "utf8", timeout: 30_000, maxBuffer: 1 << 20 });
  const found = run(["-Y", "find-principals", "-s", sig, "-f", allowedSigners]);
  if (found.error)
    return {
      state: "bad",
      why: `ssh-keygen not available (${found.error.message}): OpenSSH ≥ 8.2`,
      code: "SIGNATURE_INVALID",
    };
  const principal = found.status === 0 ? found.stdout.split("\n").find((l) => l.trim()) : undefined;
  if (!principal)
    return {
      state: "bad",
      why: `signed by a key not in ${allowedSigners} (or not a signature)`,
      code: "SIGNER_NOT_ALLOWED",
    };
  const v = run(
    ["-Y", "verify", "-f", allowedSigners, "-I", principal.trim(), "-n", namespace, "-s", sig],
    fs.readFileSync(file),
  );
  if (v.status !== 0)
    return {
      state: "bad",
      why: `signature by ${principal.trim()} does not verify over ${path.basename(file)} in namespace ${namespace}: ${(v.stderr || v.stdout).trim().split("\n").pop()}`,
      code: "SIGNATURE_INVALID",
    };
  const key = /with (\S+ key \S+)/.exec(v.stdout + v.stderr)?.[1] ?? "key";
  const names = identitiesOf(signers, key);
  // ssh-keygen names the first line listing the key: with one key under two names (two lines, or
  // "alice,bob"), or under a pattern, that first name is a guess at who signed, not who did.
  if (!namesOnePerson(names))
    return {
      state: "bad",
      why: `the signing key (${key}) is listed in ${allowedSigners} for ${names.map((n) => JSON.stringify(n)).join(", ")}: a seal must name the one person who signed it — give each signer a key of their own, listed once under their own identity`,
      code: "SIGNER_NOT_ALLOWED",
    };
  return { state: "good", signer: principal.trim(), key };
}

/**
 * Whether the identities listed for a key name one person: one identity, not a pattern. ssh-keygen
 * names the first line listing the key, so with two names or a pattern that name is a guess.
 */
export const namesOnePerson = (names: readonly string[]): boolean => names.length === 1 && !/[*?!]/.test(names[0]);

/** An allowed_signers line's principals (quoted or not) and the base64 of its public key. */
const SIGNER_LINE = /^\s*("[^"]*"|\S+)\s.*?\b(?:ssh|ecdsa|sk)-[\w@.-]+\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)/;

/**
 * Every identity the allowed-signers lines give the key `fingerprint` names ("ED25519 key
 * SHA256:…", as ssh-keygen prints it), in order and without repeats.
 */
export function identitiesOf(lines: readonly string[], fingerprint: string): string[] {
  const want = fingerprint.split(" ").pop() ?? "";
  const names = new Set<string>();
  for (const line of lines) {
    const m = SIGNER_LINE.exec(line);
    if (!m) continue;
    const fp = `SHA256:${crypto.createHash("sha256").update(Buffer.from(m[2], "base64")).digest("base64").replace(/=+$/, "")}`;
    if (fp !== want) continue;
    for (const n of m[1].replace(/^"|"$/g, "").split(",")) if (n.trim()) names.add(n.trim());
  }
  return [...names];
}

/** Writes reseal-<k>.json (the next k) and signs it when a key is given; returns its path. */
export function writeResealStatement(sessionDir: string, s: ResealStatement, key: string | null): string {
  const k = (resealStatements(sessionDir).pop()?.[0] ?? 0) + 1;
  const file = path.join(sessionDir, `reseal-${k}.json`);
  fs.writeFileSync(file, `${canonicalJson(s)}\n`);
  if (key) signFile(file, key, RESEAL_NAMESPACE);
  return file;
}

export interface SignatureOptions {
  /** The allowed_signers file (default docs/allowed_signers under the repository). */
  allowedSigners: string;
}

/**
 * The seal's signature and each re-seal statement's, as findings: who signed, or why it does not
 * count (an error for staging and live; for sandbox only when a signature is present and bad).
 */
export function signatureFindings(
  sessionDir: string,
  manifest: Manifest,
  o: SignatureOptions,
  /** The seal's check when the caller already made it (against the same allowed signers). */
  checked?: SignatureCheck,
): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  const strict = manifest.mode !== "sandbox";
  const shown = o.allowedSigners;
  const seal = checked ?? checkSignature(path.join(sessionDir, MANIFEST_FILE), o.allowedSigners, SEAL_NAMESPACE);
  if (seal.state === "good")
    out.push({
      level: "ok",
      subject: SIGNATURE_FILE,
      message: `sealed by ${seal.signer} (${seal.key}), allowed in ${shown}`,
    });
  else if (seal.state === "unsigned")
    out.push(
      strict
        ? {
            level: "error",
            subject: SIGNATURE_FILE,
            message: `a ${manifest.mode} seal must be signed by an allowed signer and this one is unsigned (sealed before signatures, or without a key): after checking it against its committed anchor, sign it with npm run archive -- ${sessionDir} --sign-key <key>`,
            code: "SIGNATURE_MISSING",
          }
        : { level: "ok", subject: SIGNATURE_FILE, message: "unsigned (sandbox seals may be)" },
    );
  else out.push({ level: "error", subject: SIGNATURE_FILE, message: seal.why, code: seal.code });

  out.push(...statementFindings(sessionDir, strict));
  for (const [, file] of resealStatements(sessionDir)) {
    const rel = path.basename(file);
    const r = checkSignature(file, o.allowedSigners, RESEAL_NAMESPACE);
    if (r.state === "good")
      out.push({ level: "ok", subject: `${rel}.sig`, message: `re-seal signed by ${r.signer} (${r.key})` });
    else if (r.state === "bad") out.push({ level: "error", subject: `${rel}.sig`, message: r.why, code: r.code });
    else if (strict)
      out.push({
        level: "error",
        subject: `${rel}.sig`,
        message: `a ${manifest.mode} re-seal must be signed by an allowed signer`,
        code: "SIGNATURE_MISSING",
      });
  }
  return out;
}

/**
 * Signs a new seal with the operator's key (manifest.json.sig) and, for a re-seal, writes the signed
 * statement over the old manifest hash, the new one and the reason (reseal-<k>.json). Without a key
 * the seal stays unsigned (sandbox seals may be; verify names the fix for the others). A key that
 * ssh-keygen refuses leaves the seal written but unsigned, and the error says how to sign it.
 */
export function signSeal(
  dir: string,
  manifest: Manifest,
  replaced: { manifest: Manifest; sha256: string; reason: string } | null,
  key: string | null,
): string | null {
  const file = path.join(dir, MANIFEST_FILE);
  fs.rmSync(`${file}.sig`, { force: true }); // a signature over the replaced manifest is no longer true
  let sig: string | null = null;
  try {
    sig = key ? signFile(file, key, SEAL_NAMESPACE) : null;
  } catch (e) {
    throw new SealSignError(
      `${e instanceof Error ? e.message.replace(/^seal signature: /, "") : String(e)}; ${dir} is sealed but unsigned — once the key works, sign it as it stands: npm run archive -- ${dir} --sign-key <key>`,
    );
  }
  if (replaced)
    writeResealStatement(
      dir,
      {
        schema: RESEAL_SCHEMA,
        session_id: manifest.session_id,
        resealed_at: manifest.created_at,
        reason: replaced.reason.trim(),
        previous_manifest_sha256: replaced.sha256,
        manifest_sha256: crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
        previous_trace_head: replaced.manifest.chain_head,
        previous_trace_lines: replaced.manifest.trace_lines,
        previous_journal_head: replaced.manifest.journal_head ?? null,
        previous_journal_lines: replaced.manifest.journal_lines ?? null,
      },
      key,
    );
  return sig;
}
