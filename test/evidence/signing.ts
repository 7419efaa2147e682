/**
 * Throwaway SSH signing keys and allowed_signers files for the signed-seal tests (issue 24): made
 * with the real ssh-keygen, never a real operator's key.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RESEAL_NAMESPACE, SEAL_NAMESPACE } from "../../lib/evidence/signature";
import { anchorReport } from "./format-v2";

export interface Signer {
  identity: string;
  /** The private key file (no passphrase). */
  key: string;
  /** One allowed_signers line for this key. */
  line: string;
}

/** A new ed25519 key pair in a temp folder, and its allowed_signers line (namespaces restricted). */
export function makeSigner(identity: string): Signer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "signer-"));
  const key = path.join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", identity, "-f", key], { stdio: "ignore" });
  const [type, pub] = fs.readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/);
  return { identity, key, line: `${identity} namespaces="${SEAL_NAMESPACE},${RESEAL_NAMESPACE}" ${type} ${pub}` };
}

/** Writes an allowed_signers file listing `signers` under a comment header; returns its path. */
export function writeAllowedSigners(file: string, signers: Signer[]): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `# test signers\n${signers.map((s) => `${s.line}\n`).join("")}`);
  return file;
}

const git = (root: string, ...args: string[]) =>
  execFileSync(
    "git",
    ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", ...args],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );

/**
 * Makes `root` a repository whose committed docs/ trusts `signers` (docs/allowed_signers) and holds
 * an anchor block for each of `dirs` (docs/PAYMENT_E2E_LIVE_REPORT.md, written from the folders as
 * they are now), then commits everything under root. Returns the gate's TrustOptions.
 */
export function commitTrust(root: string, dirs: string[], signers: Signer[], message = "sealed and published") {
  writeAllowedSigners(path.join(root, "docs", "allowed_signers"), signers);
  const reportFile = path.join(root, "docs", "PAYMENT_E2E_LIVE_REPORT.md");
  fs.writeFileSync(reportFile, anchorReport(dirs));
  if (!fs.existsSync(path.join(root, ".git"))) git(root, "init", "-q");
  git(root, "add", "-A");
  git(root, "commit", "-qm", message);
  return { repoDir: root, reportFile, allowedSigners: path.join(root, "docs", "allowed_signers") };
}
