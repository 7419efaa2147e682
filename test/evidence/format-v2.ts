/**
 * Builders for sessions in the evidence format of docs/evidence-format.md (chained journal,
 * manifest@2), written from the document alone and used to tamper consistently, as an attacker
 * with write access would: recompute a chain from an edited line, re-seal the manifest.
 *
 * `toV2` converts a folder sealed by an older tool (manifest@1, unchained journal) and is a no-op on
 * one the tool already sealed as @2, so the tests that use it keep running when the tool writes @2.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { canonicalJson } from "../../lib/evidence/canonical";
import { isIgnoredFile } from "../../lib/evidence/files";

export const SCHEMA_V2 = "payment-e2e/manifest@2";
export const GENESIS = "0".repeat(64);

/** The field order of a line as written; the hash covers every field but `hash`. */
export const FIELDS = {
  "trace.jsonl": ["seq", "time", "mono_ms", "type", "payload", "prev", "hash"],
  "state.jsonl": ["seq", "at", "kind", "data", "prev", "hash"],
} as const;
export type ChainFile = keyof typeof FIELDS;

const sha256 = (b: string | Buffer) => crypto.createHash("sha256").update(b).digest("hex");

/** One line's bytes (no newline): fixed field order, each value canonical. */
export function serializeLine(e: Record<string, unknown>, fields: readonly string[]): string {
  return `{${fields.map((f) => `${JSON.stringify(f)}:${canonicalJson(e[f])}`).join(",")}}`;
}

/** The canonical JSON a line's hash covers. */
export function hashInput(e: Record<string, unknown>, fields: readonly string[]): string {
  return canonicalJson(Object.fromEntries(fields.filter((f) => f !== "hash").map((f) => [f, e[f]])));
}

export const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").slice(0, -1);

/**
 * Recomputes seq, prev and hash of every line of a chain file from its content: the result is a
 * valid chain whatever was edited. Returns the head and the line count.
 */
export function rechain(file: string, name: ChainFile): { head: string; lines: number } {
  const fields = FIELDS[name];
  let prev = GENESIS;
  const out = lines(file).map((raw, i) => {
    const e = JSON.parse(raw) as Record<string, unknown>;
    e.seq = i + 1;
    e.prev = prev;
    e.hash = sha256(hashInput(e, fields));
    prev = e.hash as string;
    return serializeLine(e, fields);
  });
  fs.writeFileSync(file, out.map((l) => `${l}\n`).join(""));
  return { head: prev, lines: out.length };
}

/** Head and line count of a chain file as it stands (no checking). */
export function chainHead(file: string): { head: string; lines: number } {
  const ls = lines(file);
  return { head: ls.length ? String(JSON.parse(ls[ls.length - 1]).hash ?? GENESIS) : GENESIS, lines: ls.length };
}

function sessionFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (isIgnoredFile(r)) continue;
      if (ent.isDirectory()) walk(r);
      else if (ent.isFile() && !(rel === "" && ent.name.startsWith("manifest.json"))) out.push(r);
    }
  };
  walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Re-seals a folder's manifest over its files as they are now, keeping its schema, key order and
 * dates: chain heads and line counts from the files, every file's hash and size.
 */
export function reseal(dir: string): void {
  const file = path.join(dir, "manifest.json");
  const m = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  const trace = chainHead(path.join(dir, "trace.jsonl"));
  m.chain_head = trace.head;
  m.trace_lines = trace.lines;
  if (m.schema === SCHEMA_V2) {
    const journal = chainHead(path.join(dir, "state.jsonl"));
    m.journal_head = journal.head;
    m.journal_lines = journal.lines;
  }
  m.files = sessionFiles(dir).map((rel) => {
    const b = fs.readFileSync(path.join(dir, ...rel.split("/")));
    return { path: rel, sha256: sha256(b), bytes: b.length };
  });
  fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
}

/**
 * A folder sealed by an older tool, in the @2 format: the journal chained per the document and
 * manifest.json rewritten as @2 (fields in the document's order). No-op on an @2 folder.
 */
export function toV2(dir: string): void {
  const file = path.join(dir, "manifest.json");
  const m = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  if (m.schema === SCHEMA_V2) return;
  const journal = path.join(dir, "state.jsonl");
  const chained = lines(journal).every((l) => typeof JSON.parse(l).hash === "string");
  if (!chained) rechain(journal, "state.jsonl");
  const v2: Record<string, unknown> = {};
  for (const k of [
    "schema",
    "session_id",
    "mode",
    "created_at",
    "retention_until",
    "tool_version",
    "git_commit",
    "trace_file",
    "chain_head",
    "trace_lines",
  ])
    v2[k] = m[k];
  Object.assign(v2, { schema: SCHEMA_V2, journal_file: "state.jsonl", journal_head: "", journal_lines: 0, files: [] });
  fs.writeFileSync(file, `${JSON.stringify(v2, null, 2)}\n`);
  reseal(dir);
}

/**
 * The opposite: a folder as the tool sealed it before journals were chained (journal lines without
 * `prev`/`hash`, manifest@1 without journal fields). Verifiers must read it with a warning, and the
 * live gate must never count it as a dry run.
 */
export function toV1(dir: string): void {
  const journal = path.join(dir, "state.jsonl");
  fs.writeFileSync(
    journal,
    lines(journal)
      .map((l) => {
        const { prev: _prev, hash: _hash, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return `${JSON.stringify(rest)}\n`;
      })
      .join(""),
  );
  const file = path.join(dir, "manifest.json");
  const m = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  const { journal_file: _f, journal_head: _h, journal_lines: _l, ...v1 } = m;
  fs.writeFileSync(file, `${JSON.stringify({ ...v1, schema: "payment-e2e/manifest@1" }, null, 2)}\n`);
  reseal(dir);
}

/** The anchor line of a session's block in the living report: the strict form (canonical JSON in a marked comment). */
export function anchorLine(dir: string): string {
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as Record<string, unknown>;
  const sha = sha256(fs.readFileSync(path.join(dir, "manifest.json")));
  const v2 = m.schema === SCHEMA_V2;
  const json = canonicalJson({
    manifest_sha256: sha,
    trace_head: m.chain_head,
    trace_lines: m.trace_lines,
    journal_head: v2 ? m.journal_head : null,
    journal_lines: v2 ? m.journal_lines : null,
  });
  return `<!-- payment-e2e:anchor ${json} -->`;
}

/** A minimal living report holding one block per session, each with its anchor line. */
export function anchorReport(dirs: string[]): string {
  const blocks = dirs.map((d) => {
    const id = path.basename(d);
    return `<!-- session:${id} -->\n### Session ${id}\n\n**Integrity** :\n\n${anchorLine(d)}\n\n<!-- /session:${id} -->\n`;
  });
  return `# Payment E2E live report\n\n<!-- sessions:start -->\n${blocks.join("\n")}<!-- sessions:end -->\n`;
}
