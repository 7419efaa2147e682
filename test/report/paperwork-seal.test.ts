/**
 * The GO row rests on a seal someone vouched for: a live session whose every box is ticked is GO only
 * when its seal verifies (files unchanged since it) and is signed by a signer in the committed
 * docs/allowed_signers — the check the live gate makes of a staging dry run (lib/evidence/seal-trust.ts).
 * Otherwise it stays PENDING naming the fix. Keys are throwaway ed25519 keys made with the real
 * ssh-keygen. Each PENDING case was GO on the old lib/report/paperwork.ts, which asked only for a
 * manifest that was not stale.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { confirmBank } from "../../lib/report/bank";
import { loadEvidence } from "../../lib/report/evidence";
import { goNoGo } from "../../lib/report/paperwork";
import { makeSigner, writeAllowedSigners } from "../evidence/signing";
import { day, makeSession, tmpArchive } from "./fixtures";
import { commitSigners, rootOfSession, testSigner, vouchedSeal } from "./vouched";

/** A live session with every box ticked (bank statement confirmed), not sealed yet. */
function fullLive(): string {
  const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass" });
  confirmBank(dir, { date: day() });
  fs.writeFileSync(path.join(dir, "report.md"), "# the block as sealed\n");
  return dir;
}

const decide = (dir: string) => goNoGo([loadEvidence(dir)]);

describe("GO/NO-GO: the seal must verify and be signed by a committed allowed signer", () => {
  it("GO for a seal signed by an allowed signer, naming who sealed it (identity and key fingerprint)", () => {
    const dir = fullLive();
    vouchedSeal(dir);
    const d = decide(dir);
    assert.equal(d.status, "✅ GO", d.reason);
    assert.equal(d.signer?.identity, testSigner().identity);
    assert.match(d.signer?.key ?? "", /^ED25519 key SHA256:\S+$/);
  });

  it("PENDING for a seal without a signature, naming the signing command", () => {
    const dir = fullLive();
    vouchedSeal(dir, { by: null });
    const d = decide(dir);
    assert.equal(d.go, false);
    assert.equal(d.status, "🟡 PENDING");
    assert.equal(d.signer, null);
    assert.match(
      d.reason,
      /^latest live session \S+-live: its seal is unsigned .*npm run archive -- \S+ --sign-key <key>$/,
    );
    assert.doesNotMatch(d.reason, /\n/);
  });

  it("PENDING for a seal signed by a key not in docs/allowed_signers", () => {
    const mallory = makeSigner("mallory@example.com");
    try {
      const dir = fullLive();
      vouchedSeal(dir, { by: mallory });
      const d = decide(dir);
      assert.equal(d.go, false);
      assert.match(d.reason, /: its seal does not count: signed by a key not in \S*allowed_signers/);
    } finally {
      fs.rmSync(path.dirname(mallory.key), { recursive: true, force: true });
    }
  });

  it("PENDING for a signed seal whose report.md was edited after it (verify fails)", () => {
    const dir = fullLive();
    vouchedSeal(dir);
    fs.appendFileSync(path.join(dir, "report.md"), "✅ GO — edited after sealing\n");
    const d = decide(dir);
    assert.equal(d.go, false);
    assert.match(
      d.reason,
      /: fails verify \(report\.md: the report block was rewritten after sealing: .*\) — run npm run verify -- \S+$/,
    );
  });

  it("PENDING for a key added to the working copy's allowed_signers and never committed", () => {
    const eve = makeSigner("eve@example.com");
    try {
      const dir = fullLive();
      vouchedSeal(dir, { by: eve });
      // The committed list names only the test signer; eve is added to the working copy.
      writeAllowedSigners(path.join(rootOfSession(dir), "docs", "allowed_signers"), [testSigner(), eve]);
      const d = decide(dir);
      assert.equal(d.go, false);
      assert.match(
        d.reason,
        /: docs\/allowed_signers differs from its committed version: only the committed signer list is trusted/,
      );
      // Committed in a reviewed change, the same seal earns GO.
      commitSigners(rootOfSession(dir), [testSigner(), eve]);
      const go = decide(dir);
      assert.equal(go.status, "✅ GO", go.reason);
      assert.equal(go.signer?.identity, "eve@example.com");
    } finally {
      fs.rmSync(path.dirname(eve.key), { recursive: true, force: true });
    }
  });
});
