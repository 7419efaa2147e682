/**
 * The files of a session folder, named once (issue 10): every module and test that reads or
 * writes one of them imports its name from here.
 */

/** The journal: one JSON line per intent and outcome, fsynced before money can move. */
export const JOURNAL_FILE = "state.jsonl";
/** The hash-chained log of every request, response, poll and operator acknowledgement. */
export const TRACE_FILE = "trace.jsonl";
/** Hashes and sizes of every file, chain head, versions, retention date; written by the archive. */
export const MANIFEST_FILE = "manifest.json";
/** The session's own report block (templates/session-block.md, filled). */
export const REPORT_FILE = "report.md";
/** The executed runbook, copied from notebooks/ with the parameters injected. */
export const SESSION_NOTEBOOK = "payment-e2e.ipynb";
/** nbconvert's export of the session notebook, written beside it by the archive. */
export const SESSION_HTML = "payment-e2e.html";
/** The poll-latency plot (steps 5 and 9): `.svg` and `.png`. */
export const POLL_PLOT = "poll-latency";
/** The dry run vs live comparison, in the live session folder: `.md`, `.svg` and `.png`. */
export const COMPARISON_FILE = "comparison";
