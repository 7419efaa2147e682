/**
 * OPERATOR_NOTES as the notebook shows it, held against what the session recorded. The kernel traces
 * the note when the session cell runs (lib/run/session.ts); a note typed into the parameters cell
 * afterwards is shown in the notebook and its HTML export but is in neither the trace nor report.md.
 * The seal refuses that (host/seal-rules.ts), naming the cells to re-run; `npm run verify` names it
 * in a folder sealed before the seal refused it (`notesFindings`, NOTES_UNRECORDED). Pure reading of
 * the notebook's JSON: the evidence layer, so verify (here) and the host's seal rules share it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { TraceEvent } from "./chain";
import { SESSION_NOTEBOOK } from "./files";
import { type JournalEntry, firstOf } from "./journal-entries";
import type { VerifyFinding } from "./verify";

/** What is read of a notebook: its cells' type, tags and source. */
export interface NotesNotebook {
  cells: Array<{ cell_type: string; metadata?: { tags?: string[] }; source?: string | string[] }>;
}

const ASSIGN = /(?:^|[\s;])(?:(?:let|var|const)\s+)?OPERATOR_NOTES\s*(?::\s*string\s*)?=\s*/g;
const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", b: "\b", f: "\f", v: "\v" };

/** A plain string literal at `s[at]` and where it ends, or null (an expression, `${…}`, an odd escape). */
function stringLiteral(s: string, at: number): { value: string; end: number } | null {
  const q = s[at];
  if (q !== '"' && q !== "'" && q !== "`") return null;
  let out = "";
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i];
    if (c === q) return { value: out, end: i + 1 };
    if (c === "\n" && q !== "`") return null;
    if (q === "`" && c === "$" && s[i + 1] === "{") return null;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e === undefined) return null;
    if (e === "u") {
      const hex = /^[0-9a-fA-F]{4}/.exec(s.slice(i + 1))?.[0];
      if (!hex) return null;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 4;
    } else if (e === "\n") {
      // A line continuation: nothing.
    } else if (e in ESCAPES) out += ESCAPES[e];
    else if (/[\\'"`$]/.test(e)) out += e;
    else return null;
  }
  return null;
}

/**
 * The value the notebook's parameter cells give OPERATOR_NOTES (the last assignment in the
 * `parameters` then `injected-parameters` cells), `{ value: null }` when it is not a plain string
 * literal, or null when no parameter cell assigns it.
 */
export function notesInNotebook(nb: NotesNotebook): { value: string | null } | null {
  let found: { value: string | null } | null = null;
  for (const c of nb.cells) {
    const tags = c.metadata?.tags ?? [];
    if (c.cell_type !== "code" || !(tags.includes("parameters") || tags.includes("injected-parameters"))) continue;
    const src = Array.isArray(c.source) ? c.source.join("") : (c.source ?? "");
    for (const m of src.matchAll(ASSIGN)) {
      const lit = stringLiteral(src, m.index + m[0].length);
      const rest = lit ? src.slice(lit.end).split("\n")[0] : "";
      found = { value: lit && /^\s*;?\s*(\/\/.*)?$/.test(rest) ? lit.value : null };
    }
  }
  return found;
}

/**
 * Why the notebook's OPERATOR_NOTES is not in the evidence (`recorded`: the notes report.md reads),
 * or null. The note is never quoted: it is operator text.
 */
export function notesProblem(nb: NotesNotebook, recorded: readonly string[]): string | null {
  const p = notesState(nb, recorded);
  if (p === null) return null;
  if (p.kind === "not_plain")
    return "the notebook's OPERATOR_NOTES is not a plain string (an expression, or a template with a placeholder), so the seal cannot tell whether report.md holds it";
  return `the notebook's OPERATOR_NOTES (${p.length} characters) is not in the journal or the trace: it was typed after the session cell last ran, and report.md would lack it`;
}

/** Whether the notebook's note is among the recorded ones: null when it is (or there is none). */
function notesState(
  nb: NotesNotebook,
  recorded: readonly string[],
): { kind: "not_plain" } | { kind: "unrecorded"; length: number } | null {
  const shown = notesInNotebook(nb);
  if (!shown) return null;
  if (shown.value === null) return { kind: "not_plain" };
  const note = shown.value.trim();
  if (!note || recorded.some((r) => r.trim() === note)) return null;
  return { kind: "unrecorded", length: note.length };
}

/**
 * The notes the evidence recorded, those report.md reads: the journal's `session_created`
 * `operator_notes`, then every trace note the operator wrote (`{source: "operator", text}`).
 */
export function recordedNotes(journal: readonly JournalEntry[], events: readonly TraceEvent[]): string[] {
  const created = firstOf(journal, "session_created")?.data.operator_notes;
  return [
    typeof created === "string" ? created : null,
    ...events
      .map((e) => e.payload as Record<string, unknown> | null)
      .filter((p) => p && p.source === "operator" && typeof p.text === "string")
      .map((p) => String(p?.text)),
  ].filter((s): s is string => Boolean(s));
}

/**
 * The sealed notebook's OPERATOR_NOTES against the recorded notes, as `npm run verify` sees it: an
 * error (NOTES_UNRECORDED) when the note is not recorded, so report.md lacks what the notebook and
 * its HTML export show; a warning when it is not a plain string (the seal refuses that now). The
 * note is never quoted: it is operator text. Nothing when there is no readable notebook.
 */
export function notesFindings(
  dir: string,
  journal: readonly JournalEntry[],
  events: readonly TraceEvent[],
): VerifyFinding[] {
  let nb: NotesNotebook;
  try {
    nb = JSON.parse(fs.readFileSync(path.join(dir, SESSION_NOTEBOOK), "utf8")) as NotesNotebook;
  } catch {
    return []; // absent or unreadable: the manifest's and the agreement's findings say so
  }
  if (!nb || !Array.isArray(nb.cells)) return [];
  const p = notesState(nb, recordedNotes(journal, events));
  if (p === null) return [];
  if (p.kind === "not_plain")
    return [
      {
        level: "warning",
        subject: SESSION_NOTEBOOK,
        message:
          "OPERATOR_NOTES is not a plain string (an expression, or a template with a placeholder): whether report.md holds it cannot be told",
      },
    ];
  return [
    {
      level: "error",
      subject: SESSION_NOTEBOOK,
      message: `OPERATOR_NOTES (${p.length} characters) is in neither the journal nor the trace: it was typed after the session cell last ran, so the notebook and its HTML export show a note that report.md lacks`,
      code: "NOTES_UNRECORDED",
    },
  ];
}
