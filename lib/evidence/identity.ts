/**
 * The session's identity check of `npm run verify` (issue 13): folder name, manifest, journal and
 * trace must name one session and one mode, or the folder was renamed, swapped or relabelled.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { JOURNAL_FILE, MANIFEST_FILE, REPORT_FILE, SESSION_HTML, SESSION_NOTEBOOK } from "./files";
import type { Manifest } from "./manifest";
import type { TraceEvent } from "./chain";
import type { JournalRead } from "./journal";
import type { VerifyFinding } from "./verify";

/**
 * The session's identity, said the same way by every file: the folder's name, manifest.session_id,
 * the journal's session_created sessionId and every trace `session` event's session_id; and the
 * mode in the manifest, the journal, the trace and the session id's `-<mode>` suffix. A renamed
 * folder, a relabelled mode or two sessions' files swapped each give an error naming file and line.
 */
export function identityFindings(
  sessionDir: string,
  manifest: Manifest,
  journal: JournalRead | null,
  events: readonly TraceEvent[],
  journalRel: string = JOURNAL_FILE,
): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  const id = manifest.session_id;
  const mode = manifest.mode;
  const folder = path.basename(path.resolve(sessionDir));
  const err = (subject: string, message: string) => out.push({ level: "error", subject, message, code: "IDENTITY" });
  if (folder !== id)
    err(MANIFEST_FILE, `session folder renamed or swapped: folder says ${folder}, manifest says ${id}`);
  if (!id.endsWith(`-${mode}`))
    err(MANIFEST_FILE, `mode changed: manifest says ${mode}, but session id ${id} names mode ${id.split("-").pop()}`);
  const created = journal?.entries[0];
  // Without a journal nothing says which session the folder holds (its chain finding says why it is gone).
  if (!journal) err(journalRel, "no journal entries: the session_created entry is missing");
  else if (created?.kind !== "session_created") {
    err(`${journalRel}:1`, "the journal does not start with session_created: not a session journal");
  } else if (created?.kind === "session_created") {
    const jId = created.data.sessionId;
    const jMode = created.data.mode;
    if (jId !== id)
      err(`${journalRel}:1`, `journal belongs to another session (swapped?): journal says ${jId}, manifest says ${id}`);
    if (jMode !== mode) err(`${journalRel}:1`, `mode changed: journal says ${jMode}, manifest says ${mode}`);
  }
  let sessions = 0;
  for (const e of events) {
    if (e.type !== "session") continue;
    sessions++;
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (p.session_id !== id)
      err(
        `${manifest.trace_file}:${e.seq}`,
        `trace belongs to another session (swapped?): trace says ${String(p.session_id)}, manifest says ${id}`,
      );
    if (p.mode !== mode)
      err(`${manifest.trace_file}:${e.seq}`, `mode changed: trace says ${String(p.mode)}, manifest says ${mode}`);
  }
  if (!out.length)
    out.push({
      level: "ok",
      subject: "session",
      message: `${id} (${mode}): folder, manifest, journal and ${sessions} trace session event(s) agree`,
    });
  return out;
}

/** A session id anywhere in a text (lib/config.ts's shape, unanchored). */
const SESSION_ID_ANY = /\b\d{8}T\d{6}Z(?:-[0-9a-f]{4})?-(?:sandbox|staging|live)\b/g;

/**
 * The ids the notebook, the HTML export and report.md name (issue 24 §6): a relabelled copy (folder,
 * manifest, journal and trace rewritten to a new id) keeps the old id in them. A file that names
 * session ids but never this one is an error; a file naming none says nothing either way.
 * @example leftoverIdFindings(dir, "20261120T140211Z-staging") // [] when they agree
 */
export function leftoverIdFindings(sessionDir: string, id: string): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  for (const rel of [SESSION_NOTEBOOK, SESSION_HTML, REPORT_FILE]) {
    const abs = path.join(sessionDir, rel);
    if (!fs.existsSync(abs)) continue;
    const named = new Set(fs.readFileSync(abs, "utf8").match(SESSION_ID_ANY) ?? []);
    if (named.size === 0 || named.has(id)) continue;
    out.push({
      level: "error",
      subject: rel,
      message: `names session ${[...named].sort().join(", ")}, never ${id}: a copy relabelled from another session`,
      code: "IDENTITY_LEFTOVER",
    });
  }
  return out;
}
