/**
 * The shared tamper table (issue 24 §6): one case per attack on a copy of a sealed session, each
 * with the finding codes (lib/evidence/finding-codes.ts, printed ` [CODE]` by both verifiers) that
 * `npm run verify` and verifier/verify_session.py must both report. test/evidence/parity.test.ts runs
 * every case through both. To add a case (a signature row, say), push a `TamperCase`: `tamper` edits
 * the copy as an attacker with write access would, `expect` names the codes.
 *
 * Helpers here recompute chains and manifests the way the format document says, including for
 * values the tool itself would refuse to write (a lone surrogate, bytes that are not UTF-8).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FindingCode } from "../../lib/evidence/finding-codes";
import { FIELDS, GENESIS, type ChainFile, anchorLine, reseal } from "./format-v2";

export interface TamperCtx {
  /** The session folder under test (a copy); a case may rename it by setting `dir`. */
  dir: string;
  /** The living report the verifiers compare the folder with (a copy). */
  report: string;
}

export interface TamperCase {
  name: string;
  /** Edits the copy; returns nothing. May move `ctx.dir`. */
  tamper: (ctx: TamperCtx) => void;
  /** Codes both verifiers must report as errors. */
  expect: FindingCode[];
}

const sha256 = (b: string | Buffer) => crypto.createHash("sha256").update(b).digest("hex");

/** Canonical JSON that, unlike the tool's, does not refuse a lone surrogate (JSON.stringify escapes it). */
function looseCanonical(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sort)
      : x !== null && typeof x === "object"
        ? Object.fromEntries(
            Object.keys(x as object)
              .sort()
              .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(sort(v));
}

const serialize = (e: Record<string, unknown>, fields: readonly string[]) =>
  `{${fields.map((f) => `${JSON.stringify(f)}:${looseCanonical(e[f])}`).join(",")}}`;

/**
 * Rewrites a chain file from edited entries: seq, prev and hash recomputed over what each line
 * will decode to; `bytesOf` may then replace a line's bytes (an invalid byte the hash never saw).
 */
export function rewriteChain(
  file: string,
  name: ChainFile,
  edit: (entries: Array<Record<string, unknown>>) => void,
  bytesOf: (line: string, n: number) => Buffer = (l) => Buffer.from(l, "utf8"),
): void {
  const fields: readonly string[] = FIELDS[name];
  const entries = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  edit(entries);
  let prev = GENESIS;
  const out = entries.map((e, i) => {
    e.seq = i + 1;
    e.prev = prev;
    e.hash = sha256(looseCanonical(Object.fromEntries(fields.filter((f) => f !== "hash").map((f) => [f, e[f]]))));
    prev = e.hash as string;
    return Buffer.concat([bytesOf(serialize(e, fields), i + 1), Buffer.from("\n")]);
  });
  fs.writeFileSync(file, Buffer.concat(out));
}

/** The report's block for the folder's session gets the anchor of the folder as it is now (the attacker edits the report too). */
export function reanchor(ctx: TamperCtx): void {
  const id = path.basename(ctx.dir);
  const open = `<!-- session:${id} -->`;
  const close = `<!-- /session:${id} -->`;
  let text = fs.readFileSync(ctx.report, "utf8");
  const block = `${open}\n### Session ${id}\n\n**Integrity** :\n\n${anchorLine(ctx.dir)}\n\n${close}`;
  const s = text.indexOf(open);
  text =
    s < 0
      ? text.replace("<!-- sessions:end -->", `${block}\n<!-- sessions:end -->`)
      : text.slice(0, s) + block + text.slice(text.indexOf(close, s) + close.length);
  fs.writeFileSync(ctx.report, text);
}

const TRACE = "trace.jsonl";
const JOURNAL = "state.jsonl";
/** The trace line a case edits. */
export const EDITED_LINE = 5;
const notePayload = (e: Record<string, unknown>, note: string) => {
  e.payload = { ...((e.payload as Record<string, unknown>) ?? {}), note };
};

export const TAMPER_CASES: TamperCase[] = [
  {
    name: "lone surrogate (escaped \\ud800) in a trace line, chain and manifest recomputed",
    tamper: (c) => {
      rewriteChain(path.join(c.dir, TRACE), TRACE, (es) => notePayload(es[EDITED_LINE - 1], "\ud800"));
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["NOT_CANONICAL"],
  },
  {
    name: "raw invalid UTF-8 byte in a trace line, hashed as U+FFFD, chain and manifest recomputed",
    tamper: (c) => {
      const fffd = Buffer.from("\ufffd", "utf8");
      rewriteChain(
        path.join(c.dir, TRACE),
        TRACE,
        (es) => notePayload(es[EDITED_LINE - 1], "\ufffd"),
        (l, n) => {
          const b = Buffer.from(l, "utf8");
          if (n !== EDITED_LINE) return b;
          const at = b.indexOf(fffd);
          return Buffer.concat([b.subarray(0, at), Buffer.from([0xff]), b.subarray(at + fffd.length)]);
        },
      );
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["INVALID_UTF8"],
  },
  {
    name: "raw invalid UTF-8 byte in a journal line (a step's reason), hashed as U+FFFD, chain and manifest recomputed",
    tamper: (c) => {
      const fffd = Buffer.from("\ufffd", "utf8");
      const step = (es: Array<Record<string, unknown>>) => es.findIndex((e) => e.kind === "step_result");
      let at = -1;
      rewriteChain(
        path.join(c.dir, JOURNAL),
        JOURNAL,
        (es) => {
          at = step(es);
          es[at].data = { ...(es[at].data as Record<string, unknown>), reason: "\ufffd" };
        },
        (l, n) => {
          const b = Buffer.from(l, "utf8");
          if (n !== at + 1) return b;
          const i = b.indexOf(fffd);
          return Buffer.concat([b.subarray(0, i), Buffer.from([0xc3]), b.subarray(i + fffd.length)]);
        },
      );
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["INVALID_UTF8"],
  },
  {
    name: "anchor not canonical (a space after the brace): malformed, not read",
    tamper: (c) => {
      const text = fs.readFileSync(c.report, "utf8");
      fs.writeFileSync(c.report, text.replace("payment-e2e:anchor {", "payment-e2e:anchor { "));
    },
    expect: ["ANCHOR_MALFORMED"],
  },
  {
    name: "two anchors in one block (a second one pasted into the notes after a consistent rewrite)",
    tamper: (c) => {
      const anchored = anchorLine(c.dir);
      rewriteChain(path.join(c.dir, TRACE), TRACE, (es) => notePayload(es[EDITED_LINE - 1], "amount 50"));
      reseal(c.dir);
      const id = path.basename(c.dir);
      const text = fs.readFileSync(c.report, "utf8");
      const close = `<!-- /session:${id} -->`;
      // The tool's anchor stays; the forged one, for the rewritten folder, follows it in the block.
      fs.writeFileSync(c.report, text.replace(close, `**Operator notes** :\n\n${anchorLine(c.dir)}\n\n${close}`));
      if (!text.includes(anchored)) throw new Error("the report does not hold the folder's anchor");
    },
    expect: ["ANCHOR_AMBIGUOUS"],
  },
  {
    name: "extra file in a sealed folder",
    tamper: (c) => fs.writeFileSync(path.join(c.dir, "notes.txt"), "added after the seal\n"),
    expect: ["EXTRA_FILE"],
  },
  {
    name: "relabelled copy: folder, manifest, journal and trace rewritten to a new id; notebook and report keep the old",
    tamper: (c) => {
      const oldId = path.basename(c.dir);
      const newId = oldId.replace(/^(\d{8}T)\d{6}Z/, "$1235959Z");
      const dir = path.join(path.dirname(c.dir), newId);
      fs.renameSync(c.dir, dir);
      c.dir = dir;
      rewriteChain(path.join(dir, JOURNAL), JOURNAL, (es) => {
        es[0].data = { ...(es[0].data as Record<string, unknown>), sessionId: newId };
      });
      rewriteChain(path.join(dir, TRACE), TRACE, (es) => {
        for (const e of es)
          if (e.type === "session") e.payload = { ...(e.payload as Record<string, unknown>), session_id: newId };
      });
      const mf = path.join(dir, "manifest.json");
      fs.writeFileSync(mf, fs.readFileSync(mf, "utf8").replace(`"session_id": "${oldId}"`, `"session_id": "${newId}"`));
      reseal(dir);
      reanchor(c);
    },
    expect: ["IDENTITY_LEFTOVER"],
  },
];
