/**
 * The optional RFC 3161 timestamp (issue 24 §5) against a local time-stamping authority: a
 * throwaway CA and TSA certificate made with openssl, `openssl ts -reply` behind a tiny HTTP server
 * on 127.0.0.1 (port 0). Archive stores a token over the manifest's sha256 beside it; both verifiers
 * check it offline with the CA; a token over another hash fails both; no CA warns in both.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { TimestampError } from "../../lib/errors";
import { MANIFEST_TSR_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { Trace } from "../../lib/evidence/trace";
import { manifestHash } from "../../lib/evidence/manifest";
import { type TsaConfig, requestTimestamp } from "../../lib/evidence/timestamp";
import { archiveSession } from "../../lib/host/archive";
import { makeSession, tmpArchive } from "../report/fixtures";
import { anchorReport } from "./format-v2";
import { runPython, runTs, sealedFixture } from "./verifiers";

const openssl = (cwd: string, ...args: string[]) => execFileSync("openssl", args, { cwd, stdio: "pipe" });

/** A CA, a TSA certificate it signed (timeStamping, critical), and the [tsa] config of `openssl ts -reply`. */
function makeTsa(dir: string): { ca: string; config: string } {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test TSA CA");
  openssl(dir, "req", "-new", ...ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA");
  fs.writeFileSync(
    path.join(dir, "ext.cnf"),
    "[tsa_ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
  );
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "tsa.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "tsa.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
    "-extensions",
    "tsa_ext",
  );
  fs.writeFileSync(path.join(dir, "tsaserial"), "01\n");
  const config = path.join(dir, "tsa.cnf");
  fs.writeFileSync(
    config,
    [
      "[tsa]",
      "default_tsa = tsa_config1",
      "[tsa_config1]",
      `dir = ${dir}`,
      "serial = $dir/tsaserial",
      "crypto_device = builtin",
      "signer_cert = $dir/tsa.pem",
      "signer_key = $dir/tsa.key",
      "signer_digest = sha256",
      "default_policy = 1.2.3.4.1",
      "digests = sha256",
      "accuracy = secs:1",
      "ordering = yes",
      "tsa_name = yes",
      "ess_cert_id_chain = no",
      "ess_cert_id_alg = sha256",
      "",
    ].join("\n"),
  );
  return { ca: path.join(dir, "ca.pem"), config };
}

describe("RFC 3161 timestamp of the seal, local authority", () => {
  let tmp: string;
  let server: http.Server;
  let tsa: TsaConfig;
  let requests = 0;
  const cleanups: Array<() => void> = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsa-"));
    const { ca, config } = makeTsa(tmp);
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        requests++;
        const n = requests;
        try {
          assert.equal(req.method, "POST");
          assert.equal(req.headers["content-type"], "application/timestamp-query");
          fs.writeFileSync(path.join(tmp, `q${n}.tsq`), Buffer.concat(chunks));
          openssl(tmp, "ts", "-reply", "-config", config, "-queryfile", `q${n}.tsq`, "-out", `r${n}.tsr`);
          res.writeHead(200, { "content-type": "application/timestamp-reply" });
          res.end(fs.readFileSync(path.join(tmp, `r${n}.tsr`)));
        } catch (e) {
          res.writeHead(500);
          res.end(String(e));
        }
      });
    });
    // The server never closes an idle keep-alive socket during the suite: at its default 5 s it could
    // close one just as fetch reused it ("fetch failed"), which a loaded machine (test files run
    // concurrently) made likely between two tests about 5 s apart.
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    tsa = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`, caFile: ca, untrustedFile: null };
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    for (const c of cleanups) c();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function stamped() {
    const f = await sealedFixture({ tsa, html: false });
    cleanups.push(f.cleanup);
    const report = path.join(path.dirname(f.dir), "PAYMENT_E2E_LIVE_REPORT.md");
    fs.writeFileSync(report, anchorReport([f.dir]));
    return { dir: f.dir, report };
  }

  test("archive stores a token over the manifest's sha256; both verifiers check it with the CA", async () => {
    const before = requests;
    const s = await stamped();
    assert.equal(requests, before + 1, "one request to the authority");
    assert.ok(fs.existsSync(path.join(s.dir, MANIFEST_TSR_FILE)));
    // The token is not listed in the manifest (it is made over it) and is not an extra file.
    const listed = JSON.parse(fs.readFileSync(path.join(s.dir, "manifest.json"), "utf8")).files as Array<{
      path: string;
    }>;
    assert.ok(!listed.some((f) => f.path === MANIFEST_TSR_FILE));
    for (const run of [runPython, runTs]) {
      const r = run(s.dir, s.report, ["--tsa-ca", tsa.caFile!]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^ok +manifest\.json\.tsr: RFC 3161 timestamp over the manifest's sha256 verifies: \w+/m);
      // Without the CA: said, never silently passed.
      const w = run(s.dir, s.report);
      assert.equal(w.code, 0, w.out);
      assert.match(w.out, /^WARN +manifest\.json\.tsr: .*not checked.* \[TIMESTAMP_UNCHECKED\]$/m);
    }
  });

  test("a token over another hash fails both verifiers: TIMESTAMP_INVALID", async () => {
    const s = await stamped();
    const other = fs.mkdtempSync(path.join(tmp, "other-"));
    const digest = manifestHash(s.dir).replace(/^./, (c) => (c === "0" ? "1" : "0"));
    await requestTimestamp(other, digest, tsa);
    fs.copyFileSync(path.join(other, MANIFEST_TSR_FILE), path.join(s.dir, MANIFEST_TSR_FILE));
    for (const run of [runPython, runTs]) {
      const r = run(s.dir, s.report, ["--tsa-ca", tsa.caFile!]);
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(r.errors, ["TIMESTAMP_INVALID"], r.out);
    }
  });

  test("a token checked against another CA fails both verifiers", async () => {
    const s = await stamped();
    const otherCa = fs.mkdtempSync(path.join(tmp, "ca-"));
    const { ca } = makeTsa(otherCa);
    for (const run of [runPython, runTs]) {
      const r = run(s.dir, s.report, ["--tsa-ca", ca]);
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(r.errors, ["TIMESTAMP_INVALID"], r.out);
    }
  });

  test("a re-seal keeps the old token under a listed name and stamps the new manifest", async () => {
    const s = await stamped();
    const old = manifestHash(s.dir);
    const t = Trace.open(path.join(s.dir, TRACE_FILE));
    t.append("operator_ack", { event: "evidence added on purpose" });
    t.close();
    const docsDir = path.join(path.dirname(path.dirname(path.dirname(s.dir))), "docs");
    const r = await archiveSession(s.dir, { html: false, docsDir, tsa, reseal: "operator note added on purpose" });
    assert.equal(r.status, "resealed");
    const kept = `manifest.previous-${old.slice(0, 12)}.tsr`;
    assert.ok(
      r.manifest.files.some((f) => f.path === kept),
      "the old token is sealed evidence now",
    );
    fs.writeFileSync(s.report, anchorReport([s.dir]));
    for (const run of [runPython, runTs]) {
      const v = run(s.dir, s.report, ["--tsa-ca", tsa.caFile!]);
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, /^ok +manifest\.json\.tsr: RFC 3161 timestamp over the manifest's sha256 verifies/m);
    }
  });

  test("an unreachable authority: archive throws EVIDENCE_TIMESTAMP naming the fix", async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const archive = tmpArchive();
    cleanups.push(() => fs.rmSync(path.dirname(path.dirname(archive)), { recursive: true, force: true }));
    const dir = makeSession(archive, { mode: "sandbox" });
    await assert.rejects(
      archiveSession(dir, {
        html: false,
        docsDir: path.join(archive, "..", "..", "docs"),
        tsa: { ...tsa, url: `http://127.0.0.1:${port}/tsa` },
      }),
      (e: unknown) =>
        e instanceof TimestampError &&
        e.code === "EVIDENCE_TIMESTAMP" &&
        /could not be reached .*: check the URL, or unset it to seal without a timestamp/.test(e.message),
    );
    // The seal itself was written; archiving again once the authority answers only adds the token.
    const again = await archiveSession(dir, { html: false, docsDir: path.join(archive, "..", "..", "docs"), tsa });
    assert.equal(again.status, "already-sealed");
    assert.ok(again.timestamp?.file);
    const r = runTs(dir, path.join(tmp, "none.md"), ["--no-anchor", "--tsa-ca", tsa.caFile!]);
    assert.equal(r.code, 0, r.out);
  });
});
