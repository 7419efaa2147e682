/**
 * The shared tamper table (issue 24 §6): one case per attack on a copy of a sealed session, each
 * with the finding codes (lib/evidence/finding-codes.ts, printed ` [CODE]` by both verifiers) that
 * `npm run verify` and verifier/verify_session.py must both report. test/evidence/parity.test.ts runs
 * every case through both. To add a case, push a `TamperCase`: `tamper` edits the copy as an attacker
 * with write access would (and may add flags both verifiers get, e.g. `--allowed-signers`), `expect`
 * names the codes. The copy is a sandbox seal: the signature rows sign it with throwaway keys (a
 * sandbox seal may be unsigned, a signature present is still checked); what needs a staging or live
 * seal, the live gate, confirm-bank or archive --sign-key stays in test/evidence/tamper-sign.test.ts.
 *
 * Helpers here recompute chains and manifests the way the format document says, including for
 * values the tool itself would refuse to write (a lone surrogate, bytes that are not UTF-8).
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FindingCode } from "../../lib/evidence/finding-codes";
import { RESEAL_NAMESPACE, SEAL_NAMESPACE } from "../../lib/evidence/signature";
import { FIELDS, GENESIS, type ChainFile, anchorLine, reseal } from "./format-v2";

export interface TamperCtx {
  /** The session folder under test (a copy); a case may rename it by setting `dir`. */
  dir: string;
  /** The living report the verifiers compare the folder with (a copy). */
  report: string;
  /** Flags both verifiers get after the report (e.g. `--allowed-signers <file>`); empty unless a case adds some. */
  args: string[];
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

// ------------------------------------------------------------------------------ signatures (issue 24 §1–2)

/** A throwaway ed25519 key beside the case's report, and its allowed_signers line (seal and re-seal namespaces). */
function keyPair(ctx: TamperCtx, identity: string): { key: string; line: string } {
  const key = path.join(path.dirname(ctx.report), `key-${identity.replace(/\W+/g, "-")}`);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", identity, "-f", key], { stdio: "ignore" });
  const [type, pub] = fs.readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/);
  return { key, line: `${identity} namespaces="${SEAL_NAMESPACE},${RESEAL_NAMESPACE}" ${type} ${pub}` };
}

/** An allowed_signers file beside the report listing `lines`, given to both verifiers. */
function allowSigners(ctx: TamperCtx, lines: string[]): void {
  const file = path.join(path.dirname(ctx.report), "allowed_signers");
  fs.writeFileSync(file, `# tamper table signers\n${lines.map((l) => `${l}\n`).join("")}`);
  ctx.args.push("--allowed-signers", file);
}

/** Signs the copy's manifest.json into manifest.json.sig (`ssh-keygen -Y sign`), as the archive does. */
function signManifest(ctx: TamperCtx, key: string, namespace = SEAL_NAMESPACE): void {
  const file = path.join(ctx.dir, "manifest.json");
  fs.rmSync(`${file}.sig`, { force: true });
  execFileSync("ssh-keygen", ["-Y", "sign", "-f", key, "-n", namespace, file], { stdio: "ignore" });
}

/**
 * A forged re-seal: trace line EDITED_LINE rewritten, then a re-seal note naming the replaced seal
 * appended (`heads`: with its true chain heads, as the tool writes it; none: as before issue 24),
 * chain, manifest and anchor redone.
 */
function forgeReseal(c: TamperCtx, heads: boolean): void {
  const mf = path.join(c.dir, "manifest.json");
  const old = JSON.parse(fs.readFileSync(mf, "utf8")) as Record<string, unknown>;
  const oldSha = sha256(fs.readFileSync(mf));
  rewriteChain(path.join(c.dir, TRACE), TRACE, (es) => {
    notePayload(es[EDITED_LINE - 1], "amount 50");
    const last = es[es.length - 1];
    es.push({
      time: last.time,
      mono_ms: Number(last.mono_ms ?? 0) + 1,
      type: "note",
      payload: {
        event: "re-sealed by npm run archive --reseal",
        reason: "corrected a typo in the amount",
        previous_manifest_sha256: oldSha,
        previous_sealed_at: old.created_at,
        ...(heads
          ? {
              previous_trace_head: old.chain_head,
              previous_trace_lines: old.trace_lines,
              previous_journal_head: old.journal_head ?? null,
              previous_journal_lines: old.journal_lines ?? null,
            }
          : {}),
        changes: [],
      },
    });
  });
  reseal(c.dir);
  reanchor(c);
}

// ------------------------------------------------------------------------------ the stated outcome

/** Every outcome statement of the tool's markup, FAIL turned into PASS (report block, outcome line, banner; Markdown and HTML). */
export function failToPass(text: string): string {
  return text
    .replace(/(\*\*Outcome\*\* : \*\*)❌ FAIL/g, "$1✅ PASS")
    .replace(/\*\*Outcome: ❌ FAIL\*\*/g, "**Outcome: ✅ PASS**")
    .replace(/❌ Outcome: FAIL/g, "✅ Outcome: PASS")
    .replace(/(<strong>Outcome<\/strong> : <strong>)❌ FAIL/g, "$1✅ PASS")
    .replace(/<strong>Outcome: ❌ FAIL<\/strong>/g, "<strong>Outcome: ✅ PASS</strong>");
}

/** Edits a file of the copy (throwing when the edit changes nothing: a case must tamper), then manifest and anchor are redone. */
export function editSealed(c: TamperCtx, rel: string, edit: (text: string) => string): void {
  const file = path.join(c.dir, rel);
  const before = fs.readFileSync(file, "utf8");
  const after = edit(before);
  if (after === before) throw new Error(`the edit changed nothing in ${rel}`);
  fs.writeFileSync(file, after);
  reseal(c.dir);
  reanchor(c);
}

/** report.md's Outcome line, edited, written into the session's block of the living report (the folder untouched). */
export function blockStates(c: TamperCtx, edit: (line: string) => string = (l) => l): void {
  const line = fs
    .readFileSync(path.join(c.dir, "report.md"), "utf8")
    .split("\n")
    .find((l) => l.startsWith("> **Outcome** : "));
  if (!line) throw new Error("report.md states no outcome");
  const text = fs.readFileSync(c.report, "utf8");
  const after = text.replace(/(### Session \S+\n)/, `$1\n${edit(line)}\n`);
  if (after === text) throw new Error("the living report has no session heading");
  fs.writeFileSync(c.report, after);
}

// ------------------------------------------------------------------------------ who sealed it

/** A key's type and fingerprint as ssh-keygen -Y verify names it ("ED25519 key SHA256:…"). */
export function keyText(key: string): string {
  const [, fp, ...rest] = execFileSync("ssh-keygen", ["-lf", `${key}.pub`], { encoding: "utf8" })
    .trim()
    .split(/\s+/);
  return `${rest[rest.length - 1].replace(/[()]/g, "")} key ${fp}`;
}

/** A signer line (lib/evidence/signer-line.ts) written into the session's block of the living report. */
export function blockNames(c: TamperCtx, identity: string, key: string): void {
  const text = fs.readFileSync(c.report, "utf8");
  const line = `- Sealed by : \`${identity}\` with \`${key}\` — the signature on manifest.json`;
  const after = text.replace(/(### Session \S+\n)/, `$1\n${line}\n`);
  if (after === text) throw new Error("the living report has no session heading");
  fs.writeFileSync(c.report, after);
}

/** The copy signed by a throwaway allowed signer (alice), the list given to both verifiers; returns her key. */
export function signedByAlice(c: TamperCtx): { key: string } {
  const alice = keyPair(c, "alice@example.com");
  allowSigners(c, [alice.line]);
  signManifest(c, alice.key);
  return alice;
}

export const TAMPER_CASES: TamperCase[] = [
  {
    name: "the living report's block names another signer than the one whose signature is on the seal",
    tamper: (c) => {
      const alice = signedByAlice(c);
      blockNames(c, "bob@example.com", keyText(alice.key));
    },
    expect: ["SIGNER_MISMATCH"],
  },
  {
    name: "the living report's block names a signer (identity and key) for a seal that is unsigned",
    tamper: (c) => {
      const alice = keyPair(c, "alice@example.com");
      blockNames(c, "alice@example.com", keyText(alice.key));
    },
    expect: ["SIGNER_MISMATCH"],
  },
  {
    name: "the living report's block states PASS, the seal recorded FAIL (folder and anchor untouched)",
    tamper: (c) => blockStates(c, failToPass),
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "the living report's block states the seal's FAIL with another reason (the money statement changed)",
    tamper: (c) => blockStates(c, (l) => l.replace(" before money moved", "; money moved and was refunded")),
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "report.md's Outcome swapped from FAIL to PASS, manifest and anchor redone (unsigned sandbox seal)",
    tamper: (c) => editSealed(c, "report.md", failToPass),
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "report.md's Outcome reason rewritten (outcome kept FAIL: the money statement changed), manifest and anchor redone",
    tamper: (c) =>
      editSealed(c, "report.md", (t) => t.replace(" before money moved", "; money moved and was refunded")),
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "notebook's report block, outcome line and banner swapped from FAIL to PASS, manifest and anchor redone",
    tamper: (c) => editSealed(c, "payment-e2e.ipynb", failToPass),
    // The page still shows FAIL: it is not the notebook's export either.
    expect: ["OUTCOME_MISMATCH", "HTML_DISAGREES"],
  },
  {
    name: "HTML export's outcome swapped from FAIL to PASS, manifest and anchor redone",
    tamper: (c) => editSealed(c, "payment-e2e.html", failToPass),
    expect: ["OUTCOME_MISMATCH", "HTML_DISAGREES"],
  },
  {
    name: "one output of the HTML export changed (a step row's observed text, no outcome), manifest and anchor redone",
    tamper: (c) => editSealed(c, "payment-e2e.html", (t) => t.replace("products: 3,", "products: 4,")),
    expect: ["HTML_DISAGREES"],
  },
  {
    name: "HTML export made before the last save (a code cell's output added to the notebook after it), manifest and anchor redone",
    tamper: (c) =>
      editSealed(c, "payment-e2e.ipynb", (t) => {
        const nb = JSON.parse(t);
        const last = nb.cells[nb.cells.length - 1];
        last.outputs.push({ output_type: "stream", name: "stdout", text: ["saved after the export\n"] });
        return `${JSON.stringify(nb, null, 1)}\n`;
      }),
    expect: ["HTML_DISAGREES"],
  },
  {
    name: "notebook replaced by text that is not a notebook (the HTML export beside it kept), manifest and anchor redone",
    tamper: (c) => editSealed(c, "payment-e2e.ipynb", () => "not a notebook\n"),
    expect: ["HTML_DISAGREES"],
  },
  {
    name: "report.md, notebook and HTML all swapped from FAIL to PASS (they agree with each other, not with the journal)",
    tamper: (c) => {
      for (const f of ["report.md", "payment-e2e.ipynb", "payment-e2e.html"]) editSealed(c, f, failToPass);
    },
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "the seal's outcome_stated and report.md rewritten together from FAIL to PASS (no payment in the journal), chain, manifest and anchor redone",
    tamper: (c) => {
      rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
        const seal = es[es.length - 1];
        if (seal.kind !== "outcome_stated") throw new Error("the seal's outcome is not the journal's last entry");
        seal.data = { ...(seal.data as object), outcome: "PASS" };
      });
      editSealed(c, "report.md", failToPass);
    },
    expect: ["OUTCOME_MISMATCH"],
  },
  {
    name: "a step result (step 4 PASS) appended to the journal after the seal's outcome, chain, manifest and anchor redone",
    tamper: (c) => {
      rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
        const step4 = [...es]
          .reverse()
          .find((e) => e.kind === "step_result" && (e.data as { step?: number }).step === 4);
        if (!step4) throw new Error("no step 4 result");
        const last = es[es.length - 1];
        es.push({ at: last.at, kind: "step_result", data: { ...(step4.data as object), status: "PASS" } });
      });
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["OUTCOME_MISMATCH"],
  },
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
    name: "trace.jsonl deleted",
    tamper: (c) => fs.rmSync(path.join(c.dir, TRACE)),
    expect: ["FILE_CHANGED", "CHAIN_BROKEN"],
  },
  {
    name: "state.jsonl deleted",
    tamper: (c) => fs.rmSync(path.join(c.dir, JOURNAL)),
    expect: ["FILE_CHANGED", "CHAIN_BROKEN", "IDENTITY"],
  },
  {
    name: "journal replaced by an unchained copy (seq, prev and hash dropped), manifest and anchor redone",
    tamper: (c) => {
      const file = path.join(c.dir, JOURNAL);
      const unchained = fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const { seq: _s, prev: _p, hash: _h, ...rest } = JSON.parse(l) as Record<string, unknown>;
          return `${JSON.stringify(rest)}\n`;
        });
      fs.writeFileSync(file, unchained.join(""));
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["CHAIN_BROKEN"],
  },
  {
    name: "manifest.json deleted",
    tamper: (c) => fs.rmSync(path.join(c.dir, "manifest.json")),
    expect: ["MANIFEST_INVALID"],
  },
  {
    name: "manifest.json not valid JSON",
    tamper: (c) => fs.writeFileSync(path.join(c.dir, "manifest.json"), "{\n"),
    expect: ["MANIFEST_INVALID"],
  },
  {
    name: "a file listed twice in the manifest, anchor redone",
    tamper: (c) => {
      const file = path.join(c.dir, "manifest.json");
      const m = JSON.parse(fs.readFileSync(file, "utf8")) as { files: unknown[] };
      m.files.push(m.files[0]);
      fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
      reanchor(c);
    },
    expect: ["MANIFEST_INVALID"],
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
  {
    name: "seal signed by a key not in allowed_signers",
    tamper: (c) => {
      const alice = keyPair(c, "alice@example.com");
      const mallory = keyPair(c, "mallory@example.com");
      allowSigners(c, [alice.line]);
      signManifest(c, mallory.key);
    },
    expect: ["SIGNER_NOT_ALLOWED"],
  },
  {
    name: "signed seal, then a consistent rewrite (trace line, manifest, anchor redone): the signature no longer verifies",
    tamper: (c) => {
      const alice = keyPair(c, "alice@example.com");
      allowSigners(c, [alice.line]);
      signManifest(c, alice.key);
      rewriteChain(path.join(c.dir, TRACE), TRACE, (es) => notePayload(es[EDITED_LINE - 1], "amount 50"));
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["SIGNATURE_INVALID"],
  },
  {
    name: "seal signed by an allowed signer in the re-seal namespace (a statement's signature passed off as the seal's)",
    tamper: (c) => {
      const alice = keyPair(c, "alice@example.com");
      allowSigners(c, [alice.line]);
      signManifest(c, alice.key, RESEAL_NAMESPACE);
    },
    expect: ["SIGNATURE_INVALID"],
  },
  {
    name: "forged re-seal: a sealed trace line rewritten, a note naming the replaced seal and its true heads, chain + manifest + anchor redone",
    tamper: (c) => forgeReseal(c, true),
    expect: ["RESEAL_BROKEN"],
  },
  {
    name: "forged re-seal whose note lacks the replaced seal's heads (the note as written before issue 24)",
    tamper: (c) => forgeReseal(c, false),
    expect: ["RESEAL_BROKEN"],
  },
  {
    name: "notebook with its runbook cells' outputs cleared (the journal's step results no longer shown), manifest and anchor redone",
    tamper: (c) => {
      const file = path.join(c.dir, "payment-e2e.ipynb");
      const nb = JSON.parse(fs.readFileSync(file, "utf8")) as { cells: Array<{ outputs?: unknown[] }> };
      for (const cell of nb.cells) if (cell.outputs) cell.outputs = [];
      fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["NOTEBOOK_DISAGREES"],
  },
  {
    // What a seal made before the seal rule refused it leaves: the note shown, report.md without it.
    name: "notebook's OPERATOR_NOTES typed after the session cell (in neither the journal nor the trace), manifest and anchor redone",
    tamper: (c) => {
      const file = path.join(c.dir, "payment-e2e.ipynb");
      const nb = JSON.parse(fs.readFileSync(file, "utf8")) as { cells: unknown[] };
      nb.cells.unshift({
        cell_type: "code",
        execution_count: null,
        id: "params",
        metadata: { tags: ["parameters"] },
        outputs: [],
        source: [
          'let MODE = "sandbox";\n',
          'let OPERATOR_NOTES = "refunded twice from the dashboard, ticket OPS-9";   // free text\n',
        ],
      });
      fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
      reseal(c.dir);
      reanchor(c);
    },
    expect: ["NOTES_UNRECORDED"],
  },
];
