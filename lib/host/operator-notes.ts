/**
 * OPERATOR_NOTES as the notebook shows it, held against what the session recorded. The kernel traces
 * the note when the session cell runs (lib/run/session.ts); a note typed into the parameters cell
 * afterwards is shown in the notebook and its HTML export but is in neither the trace nor report.md.
 * The seal refuses that (seal-rules.ts), naming the cells to re-run.
 */
import type { Notebook } from "./nbfile";

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
export function notesInNotebook(nb: Notebook): { value: string | null } | null {
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
export function notesProblem(nb: Notebook, recorded: string[]): string | null {
  const shown = notesInNotebook(nb);
  if (!shown) return null;
  if (shown.value === null)
    return "the notebook's OPERATOR_NOTES is not a plain string (an expression, or a template with a placeholder), so the seal cannot tell whether report.md holds it";
  const note = shown.value.trim();
  if (!note || recorded.some((r) => r.trim() === note)) return null;
  return `the notebook's OPERATOR_NOTES (${note.length} characters) is not in the journal or the trace: it was typed after the session cell last ran, and report.md would lack it`;
}
