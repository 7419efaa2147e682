/**
 * Preparing a session: a fresh, explicit session folder with its journal, and the runbook
 * template copied in with the parameters injected. Used by `npm run session` and the demo.
 */
import * as path from "node:path";
import { ensureBuilt } from "./build";
import { DEFAULTS } from "../config";
import { injectParameters, readNotebook, writeNotebook, TEMPLATE } from "./nbfile";
import { SESSION_NOTEBOOK } from "../evidence/files";
import { REPO_ROOT } from "./jupyter";
import { Session } from "../run/session";
import { sessionDir } from "../evidence/journal";
import type { Mode } from "../types";

export interface Prepared {
  sessionId: string;
  dir: string;
  notebook: string;
}

/**
 * @example prepareSession("staging", { BASE_URL: "https://staging.example.com", OPERATOR_EMAIL: "ops@example.com" })
 */
export function prepareSession(
  mode: Mode,
  params: Record<string, string | number | boolean>,
  /** `extra`: more fields for the journal's first entry (e.g. what `--new-anyway` overrode). */
  opts: { archiveDir?: string; at?: Date; extra?: Record<string, unknown> } = {},
): Prepared {
  // The notebook imports build/lib: make sure it is this source tree's, before anything runs.
  ensureBuilt();
  const archiveDir = opts.archiveDir ?? String(params.ARCHIVE_DIR ?? DEFAULTS.archiveDir);
  // The journal says a notebook belongs to this session, so it is never sealed without it.
  const sessionId = Session.create(
    mode,
    archiveDir,
    { base_url: params.BASE_URL ?? null, notebook: SESSION_NOTEBOOK, ...opts.extra },
    opts.at,
  );
  const dir = sessionDir(archiveDir, sessionId);
  const nb = injectParameters(readNotebook(path.join(REPO_ROOT, TEMPLATE)), {
    SESSION_ID: sessionId,
    MODE: mode,
    ARCHIVE_DIR: archiveDir,
    ...params,
  });
  const notebook = path.join(dir, SESSION_NOTEBOOK);
  writeNotebook(notebook, nb);
  return { sessionId, dir, notebook };
}
