/**
 * P4, artefact size (issue 7): the bytes of one full session's evidence — executed notebook,
 * HTML export, trace and manifest (targets on the first two) — plus the rest of the folder for
 * context, and what the notebook's bytes are made of.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MANIFEST_FILE, SESSION_HTML, SESSION_NOTEBOOK, TRACE_FILE } from "../lib/evidence/files";
import { readNotebook } from "../lib/host/nbfile";

export const P4_TARGETS = {
  notebook: 1_000_000, // ≤ 1 MB
  html: 2_000_000, // ≤ 2 MB
};

export interface P4Result {
  sessionId: string;
  files: Array<{ name: string; bytes: number; target: number | null }>;
  /** Bytes of the notebook's outputs by MIME type (base64 PNG, SVG, Markdown…). */
  notebookByMime: Array<{ mime: string; bytes: number }>;
}

export function runP4(dir: string, sessionId: string): P4Result {
  const size = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : NaN);
  const named: Array<[string, number | null]> = [
    [SESSION_NOTEBOOK, P4_TARGETS.notebook],
    [SESSION_HTML, P4_TARGETS.html],
    [TRACE_FILE, null],
    [MANIFEST_FILE, null],
  ];
  const files = named.map(([name, target]) => ({ name, bytes: size(name), target }));
  for (const f of fs.readdirSync(dir).sort()) {
    if (!named.some(([n]) => n === f)) files.push({ name: f, bytes: size(f), target: null });
  }
  const byMime = new Map<string, number>();
  for (const c of readNotebook(path.join(dir, SESSION_NOTEBOOK)).cells) {
    for (const o of c.outputs ?? []) {
      const entries = o.data
        ? Object.entries(o.data)
        : [[`stream/${o.name ?? "?"}`, o.text ?? ""] as [string, unknown]];
      for (const [mime, v] of entries) byMime.set(mime, (byMime.get(mime) ?? 0) + JSON.stringify(v).length);
    }
  }
  const notebookByMime = [...byMime].map(([mime, bytes]) => ({ mime, bytes })).sort((a, b) => b.bytes - a.bytes);
  return { sessionId, files, notebookByMime };
}
