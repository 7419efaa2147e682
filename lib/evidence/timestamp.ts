/**
 * An optional external timestamp of the seal (issue 24 §5): with a time-stamping authority
 * configured (`PAYMENT_E2E_TSA_URL`), `npm run archive` asks it for an RFC 3161 token over the
 * manifest's SHA-256 and keeps it beside the manifest (manifest.json.tsr); both verifiers check it
 * offline with `openssl ts -verify` against the authority's CA certificate the auditor holds
 * (`--tsa-ca`, or `PAYMENT_E2E_TSA_CA`). The token proves the manifest existed by the stamped time,
 * which nobody with write access to the repository can move. Runs `openssl` (bounded).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TimestampError } from "../errors";
import { MANIFEST_TSR_FILE } from "./files";
import type { VerifyFinding } from "./verify";

export interface TsaConfig {
  /** The authority's URL (HTTP POST of application/timestamp-query). */
  url: string;
  /** Its CA certificate (PEM): when given, archive checks the token it got before keeping it. */
  caFile: string | null;
  /** The authority's own certificate (PEM), when its tokens do not carry it. */
  untrustedFile: string | null;
}

/** The authority from the environment, or null when none is configured. */
export function tsaFromEnv(env: NodeJS.ProcessEnv = process.env): TsaConfig | null {
  const url = env.PAYMENT_E2E_TSA_URL?.trim();
  if (!url) return null;
  if (!/^https?:\/\//i.test(url))
    throw new TimestampError(
      `PAYMENT_E2E_TSA_URL must be an http(s) URL, got "${url.slice(0, 80)}": fix it or unset it`,
    );
  return {
    url,
    caFile: env.PAYMENT_E2E_TSA_CA?.trim() || null,
    untrustedFile: env.PAYMENT_E2E_TSA_CERT?.trim() || null,
  };
}

const openssl = (args: string[], input?: Buffer) =>
  execFileSync("openssl", args, {
    input,
    stdio: [input ? "pipe" : "ignore", "pipe", "pipe"],
    timeout: 30_000,
    maxBuffer: 16 * 1024 * 1024,
  });

const errText = (e: unknown) =>
  String((e as { stderr?: Buffer }).stderr ?? (e as Error).message ?? e)
    .trim()
    .split("\n")[0];

/** The DER timestamp query over a SHA-256 digest (hex), asking for the authority's certificate in the token. */
export function timestampQuery(digestHex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(digestHex)) throw new TimestampError(`not a SHA-256 digest: ${digestHex.slice(0, 80)}`);
  try {
    return openssl(["ts", "-query", "-sha256", "-digest", digestHex, "-cert"]);
  } catch (e) {
    throw new TimestampError(`openssl ts -query failed (${errText(e)}): install openssl`, { cause: e });
  }
}

export interface TimestampCheck {
  ok: boolean;
  /** The stamped time as openssl prints it, when readable. */
  time: string | null;
  /** openssl's first line of complaint when not ok. */
  reason: string | null;
}

/** Checks a token file against a digest and the authority's CA, offline. */
export function checkTimestamp(
  tsrFile: string,
  digestHex: string,
  caFile: string,
  untrustedFile: string | null = null,
): TimestampCheck {
  let time: string | null = null;
  try {
    const text = openssl(["ts", "-reply", "-in", tsrFile, "-text"]).toString("utf8");
    time = /^Time stamp: (.+)$/m.exec(text)?.[1]?.trim() ?? null;
  } catch (e) {
    return { ok: false, time: null, reason: `not a timestamp reply (${errText(e)})` };
  }
  const args = ["ts", "-verify", "-digest", digestHex, "-in", tsrFile, "-CAfile", caFile];
  if (untrustedFile) args.push("-untrusted", untrustedFile);
  try {
    openssl(args);
    return { ok: true, time, reason: null };
  } catch (e) {
    return { ok: false, time, reason: errText(e) };
  }
}

/**
 * Asks the authority for a token over `digestHex` and writes it to `dir/manifest.json.tsr`
 * (checked first against the CA when one is configured). Throws TimestampError naming the fix.
 */
export async function requestTimestamp(
  dir: string,
  digestHex: string,
  tsa: TsaConfig,
): Promise<{ file: string; time: string | null }> {
  const query = timestampQuery(digestHex);
  let body: Buffer;
  try {
    const res = await fetch(tsa.url, {
      method: "POST",
      headers: { "content-type": "application/timestamp-query" },
      body: query,
      signal: AbortSignal.timeout(30_000),
    });
    body = Buffer.from(await res.arrayBuffer());
    if (!res.ok)
      throw new TimestampError(
        `the authority at PAYMENT_E2E_TSA_URL answered HTTP ${res.status}: check the URL, or unset it to seal without a timestamp`,
      );
  } catch (e) {
    if (e instanceof TimestampError) throw e;
    throw new TimestampError(
      `the authority at PAYMENT_E2E_TSA_URL could not be reached (${errText(e)}): check the URL, or unset it to seal without a timestamp`,
      { cause: e },
    );
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsr-"));
  try {
    const got = path.join(tmp, MANIFEST_TSR_FILE);
    fs.writeFileSync(got, body);
    let time: string | null = null;
    if (tsa.caFile) {
      const c = checkTimestamp(got, digestHex, tsa.caFile, tsa.untrustedFile);
      if (!c.ok)
        throw new TimestampError(
          `the authority's token does not verify against PAYMENT_E2E_TSA_CA (${c.reason}): check the CA certificate and the URL`,
        );
      time = c.time;
    } else {
      try {
        time =
          /^Time stamp: (.+)$/m.exec(openssl(["ts", "-reply", "-in", got, "-text"]).toString("utf8"))?.[1]?.trim() ??
          null;
      } catch (e) {
        throw new TimestampError(
          `the authority's answer is not a timestamp reply (${errText(e)}): check PAYMENT_E2E_TSA_URL`,
        );
      }
    }
    const file = path.join(dir, MANIFEST_TSR_FILE);
    fs.copyFileSync(got, file);
    return { file, time };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The verify finding for a sealed folder's timestamp: none when there is no token; a warning when
 * there is one but no CA to check it with; an error when it does not verify over this manifest.
 */
export function timestampFindings(
  dir: string,
  manifestSha256: string,
  caFile: string | null,
  untrustedFile: string | null = null,
): VerifyFinding[] {
  const tsr = path.join(dir, MANIFEST_TSR_FILE);
  if (!fs.existsSync(tsr)) return [];
  if (!caFile)
    return [
      {
        level: "warning",
        subject: MANIFEST_TSR_FILE,
        message:
          "an RFC 3161 timestamp is present but not checked: give the authority's CA certificate with --tsa-ca <file> (or PAYMENT_E2E_TSA_CA)",
        code: "TIMESTAMP_UNCHECKED",
      },
    ];
  const c = checkTimestamp(tsr, manifestSha256, caFile, untrustedFile);
  if (c.ok)
    return [
      {
        level: "ok",
        subject: MANIFEST_TSR_FILE,
        message: `RFC 3161 timestamp over the manifest's sha256 verifies: ${c.time ?? "time unreadable"}`,
      },
    ];
  return [
    {
      level: "error",
      subject: MANIFEST_TSR_FILE,
      message: `the RFC 3161 timestamp does not verify over this manifest's sha256 with the given CA (${c.reason}): the manifest changed after it was stamped, or the token is not from that authority`,
      code: "TIMESTAMP_INVALID",
    },
  ];
}
