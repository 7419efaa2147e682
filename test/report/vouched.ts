/**
 * A fixture session sealed as an allowed signer would seal it, for the GO/NO-GO tests: a GO needs the
 * seal verified and signed by a signer in the committed docs/allowed_signers (lib/evidence/seal-trust.ts).
 * Throwaway ed25519 keys made with the real ssh-keygen (test/evidence/signing.ts); the archive's root
 * (`<root>/archive/payment-e2e/<id>`) becomes a git repository whose commit holds the signer list.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SEAL_NAMESPACE, signFile } from "../../lib/evidence/signature";
import { type Signer, makeSigner, writeAllowedSigners } from "../evidence/signing";
import { chainJournal, seal } from "./fixtures";

let shared: Signer | null = null;
/** One throwaway allowed signer per test process, removed when it exits. */
export function testSigner(): Signer {
  if (!shared) {
    shared = makeSigner("ops@example.com");
    const made = shared;
    process.on("exit", () => fs.rmSync(path.dirname(made.key), { recursive: true, force: true }));
  }
  return shared;
}

/** `<root>` of a session folder `<root>/archive/payment-e2e/<id>`. */
export const rootOfSession = (dir: string) => path.dirname(path.dirname(path.dirname(dir)));

/**
 * Commits `<root>/docs/allowed_signers` listing `signers` (and everything else under root) in a git
 * repository at root, made if missing. Returns the signer list's path.
 */
export function commitSigners(root: string, signers: Signer[]): string {
  const file = writeAllowedSigners(path.join(root, "docs", "allowed_signers"), signers);
  const git = (...args: string[]) =>
    execFileSync(
      "git",
      ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", ...args],
      { cwd: root, stdio: "ignore" },
    );
  if (!fs.existsSync(path.join(root, ".git"))) git("init", "-q");
  git("add", "-A");
  git("commit", "-qm", "signers", "--allow-empty");
  return file;
}

/**
 * Seals a fixture session (journal chained, manifest over the folder as it is) and signs the seal
 * with `by`; unless `trust` is false, the root's committed signer list names the test signer.
 */
export function vouchedSeal(dir: string, o: { by?: Signer | null; trust?: boolean } = {}): void {
  chainJournal(dir);
  seal(dir);
  const by = o.by === undefined ? testSigner() : o.by;
  if (by) signFile(path.join(dir, "manifest.json"), by.key, SEAL_NAMESPACE);
  if (o.trust !== false) commitSigners(rootOfSession(dir), [testSigner()]);
}
