/**
 * The tamper table (issue 13, "Done when"): copies of one real sealed sandbox session, each tampered
 * one way, given to both verifiers — `npm run verify` (lib/cli/verify.ts, spawned) and the
 * independent Python one (verifier/verify_session.py). Each must FAIL, name the file (and the line
 * where a line applies), and agree with the other; a clean copy passes both. The table is printed.
 *
 * The Python side is held to every row. A TypeScript row that needs the chained journal and the
 * manifest@2 (seen from the tool's own seal) or the anchor check (seen from `--report` being
 * accepted) is shown as `todo` until the tool has them, and is held to the row from then on.
 */
import { strict as assert } from "node:assert";
import { main as verifyMain } from "../../lib/cli/verify";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { archiveSession } from "../../lib/host/archive";
import { makeSession, tmpArchive } from "../report/fixtures";
import { SCHEMA_V2, anchorReport, lines, rechain, reseal, toV1, toV2 } from "./format-v2";

const ROOT = path.resolve(__dirname, "../..");
const VERIFIER = path.join(ROOT, "verifier", "verify_session.py");
const PYTHON = process.env.PYTHON ?? "python3";

interface Finding {
  level: "ok" | "WARN" | "ERROR";
  file: string;
  line: number | null;
  message: string;
}
interface Run {
  code: number | null;
  findings: Finding[];
  out: string;
}

const FINDING = /^(ok|WARN|ERROR)\s+([^\s:]+)(?::(\d+))?: (.*)$/;
function parse(stdout: string, status: number | null): Run {
  const findings: Finding[] = [];
  for (const l of stdout.split("\n")) {
    const m = FINDING.exec(l);
    if (m)
      findings.push({ level: m[1] as Finding["level"], file: m[2], line: m[3] ? Number(m[3]) : null, message: m[4] });
  }
  return { code: status, findings, out: stdout };
}

function runPython(dir: string, report: string): Run {
  const r = spawnSync(PYTHON, [VERIFIER, dir, "--report", report], { encoding: "utf8" });
  if (r.error) throw r.error;
  return parse(r.stdout, r.status);
}

/** `npm run verify` with the living report, its `main` called in this process (test/evidence/verifiers.ts runTs says why). */
function runTs(dir: string, report: string): Run {
  const out: string[] = [];
  const code = verifyMain(
    [dir, "--report", report],
    (l) => out.push(l),
    () => undefined,
    ROOT,
  );
  return parse(out.length ? `${out.join("\n")}\n` : "", code);
}

interface Ctx {
  /** The session folder under test. */
  a: string;
  /** A second, different session beside it. */
  b: string;
}
interface Row {
  name: string;
  tamper: (c: Ctx) => void;
  /** The file each verifier must name (relative to the session), and the line when a line applies. */
  file: string;
  line?: (c: Ctx) => number;
  /** What the TypeScript side needs to detect the row at all: the chained journal + @2 (A), the anchor (B). */
  tsNeeds?: Array<"chain" | "anchor">;
  /** The TypeScript side names the file now but the line only with the chained journal. */
  tsLineNeedsChain?: boolean;
}

const TRACE = "trace.jsonl";
const JOURNAL = "state.jsonl";
const at = (c: Ctx, f: string) => path.join(c.a, f);
const writeLines = (file: string, ls: string[]) => fs.writeFileSync(file, ls.map((l) => `${l}\n`).join(""));
const editLines = (file: string, edit: (ls: string[]) => string[]) => writeLines(file, edit(lines(file)));
const isChained = (file: string) => lines(file).every((l) => typeof JSON.parse(l).hash === "string");
/** One byte: the last digit of line n's timestamp. */
const oneByte = (l: string) => l.replace(/(\d)Z"/, (_, d: string) => `${(Number(d) + 1) % 10}Z"`);
const EDITED = 5;
/** The journal line of the failed step (step 7, "transfer-null"), the one an attacker would flip. */
const failLine = (c: Ctx) =>
  lines(at(c, JOURNAL)).findIndex((l) => /"kind":"step_result"/.test(l) && /"status":"FAIL"/.test(l)) + 1;
const fabricatePass = (c: Ctx) =>
  editLines(at(c, JOURNAL), (ls) =>
    ls.map((l, i) => (i + 1 === failLine(c) ? l.replace('"status":"FAIL"', '"status":"PASS"') : l)),
  );

const ROWS: Row[] = [
  {
    name: "one-byte edit (trace)",
    tamper: (c) => editLines(at(c, TRACE), (ls) => ls.map((l, i) => (i + 1 === EDITED ? oneByte(l) : l))),
    file: TRACE,
    line: () => EDITED,
  },
  {
    name: "deleted line (trace)",
    tamper: (c) => editLines(at(c, TRACE), (ls) => ls.filter((_, i) => i + 1 !== EDITED)),
    file: TRACE,
    line: () => EDITED,
  },
  {
    name: "reordered lines (trace)",
    tamper: (c) =>
      editLines(at(c, TRACE), (ls) => {
        [ls[EDITED - 1], ls[EDITED]] = [ls[EDITED], ls[EDITED - 1]];
        return ls;
      }),
    file: TRACE,
    line: () => EDITED,
  },
  {
    name: "cut tail (trace, 3 lines)",
    tamper: (c) => editLines(at(c, TRACE), (ls) => ls.slice(0, -3)),
    file: TRACE,
    line: (c) => traceLines(c) - 2,
  },
  {
    name: "cut mid-line (trace)",
    tamper: (c) => {
      const f = at(c, TRACE);
      fs.truncateSync(f, fs.statSync(f).size - 20);
    },
    file: TRACE,
    line: (c) => traceLines(c),
  },
  {
    name: "consistent rewrite of trace + manifest",
    tamper: (c) => {
      editLines(at(c, TRACE), (ls) => ls.map((l, i) => (i + 1 === EDITED ? oneByte(l) : l)));
      rechain(at(c, TRACE), TRACE);
      reseal(c.a);
    },
    file: TRACE,
    line: (c) => traceLines(c),
    tsNeeds: ["anchor"],
  },
  {
    name: "journal edit fabricating a pass (FAIL→PASS)",
    tamper: fabricatePass,
    file: JOURNAL,
    line: failLine,
    tsLineNeedsChain: true,
  },
  {
    name: "the same, journal + manifest rewritten consistently",
    tamper: (c) => {
      fabricatePass(c);
      if (isChained(at(c, JOURNAL))) rechain(at(c, JOURNAL), JOURNAL);
      reseal(c.a);
    },
    file: JOURNAL,
    line: (c) => lines(at(c, JOURNAL)).length,
    tsNeeds: ["chain", "anchor"],
  },
  {
    name: "deleted line (journal)",
    tamper: (c) => editLines(at(c, JOURNAL), (ls) => ls.filter((_, i) => i + 1 !== 3)),
    file: JOURNAL,
    line: () => 3,
    tsLineNeedsChain: true,
  },
  {
    name: "notebook output edit",
    tamper: (c) => {
      const f = at(c, "payment-e2e.ipynb");
      fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("❌ FAIL", "✅ PASS"));
    },
    file: "payment-e2e.ipynb",
  },
  {
    name: "report.md edit",
    tamper: (c) => {
      const f = at(c, "report.md");
      fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace(/❌ FAIL/, "✅ PASS"));
    },
    file: "report.md",
  },
  {
    name: "two sessions' state.jsonl swapped",
    tamper: (c) => {
      const [ja, jb] = [at(c, JOURNAL), path.join(c.b, JOURNAL)];
      const tmp = `${ja}.swap`;
      fs.renameSync(ja, tmp);
      fs.renameSync(jb, ja);
      fs.renameSync(tmp, jb);
    },
    file: JOURNAL,
  },
  {
    name: "two sessions' folders swapped (renamed)",
    tamper: (c) => {
      const tmp = `${c.a}.swap`;
      fs.renameSync(c.a, tmp);
      fs.renameSync(c.b, c.a);
      fs.renameSync(tmp, c.b);
    },
    file: "manifest.json",
    tsNeeds: ["chain"],
  },
  {
    name: "mode relabelled in the manifest",
    tamper: (c) => {
      const f = at(c, "manifest.json");
      fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace('"mode": "sandbox"', '"mode": "staging"'));
    },
    file: "manifest.json",
    tsNeeds: ["chain"],
  },
];

let traceLines: (c: Ctx) => number = () => 0;

// ------------------------------------------------------------------------------ the sealed sessions

const NOTEBOOK = {
  cells: [
    {
      cell_type: "code",
      execution_count: 1,
      id: "check-transfer",
      metadata: {},
      outputs: [{ output_type: "display_data", data: { "text/markdown": "**Step 7** ❌ FAIL" }, metadata: {} }],
      source: ['await nb.run("checkTransfer")'],
    },
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5,
};

async function sealed(archive: string, at: Date, scenario: "transfer-null" | "pass"): Promise<string> {
  const dir = makeSession(archive, { mode: "sandbox", scenario, at });
  fs.writeFileSync(path.join(dir, "payment-e2e.ipynb"), `${JSON.stringify(NOTEBOOK, null, 1)}\n`);
  const r = await archiveSession(dir, { html: false, docsDir: path.join(archive, "..", "..", "docs") });
  assert.equal(r.status, "sealed");
  return dir;
}

interface Flavour {
  /** Holds the two session folders. */
  root: string;
  ids: [string, string];
  report: string;
}

const table: Array<{ row: string; ts: string; py: string }> = [];
let ts: Flavour;
let py: Flavour;
let toolV2 = false;
let work: string;
let archiveRoot: string;

function copyOf(f: Flavour, slug: string): Ctx {
  const root = path.join(work, slug);
  fs.cpSync(f.root, root, { recursive: true });
  return { a: path.join(root, f.ids[0]), b: path.join(root, f.ids[1]) };
}

const where = (f: Finding | undefined) => (f ? `${f.file}${f.line ? `:${f.line}` : ""}: ${f.message}` : "(none)");

describe("tamper table: both verifiers", () => {
  before(async () => {
    const v = spawnSync(PYTHON, ["--version"], { encoding: "utf8" });
    if (v.error || v.status !== 0)
      throw new Error(
        `${PYTHON} not found: the independent verifier (verifier/verify_session.py) needs Python 3.9+; install python3 (scripts/setup.sh's apt list brings it with python3-venv) or set PYTHON`,
      );
    const archive = tmpArchive();
    archiveRoot = path.dirname(path.dirname(archive));
    const first = await sealed(archive, new Date(Date.UTC(2026, 10, 20, 14, 2, 11)), "transfer-null");
    const second = await sealed(archive, new Date(Date.UTC(2026, 10, 21, 9, 30, 0)), "pass");
    const ids: [string, string] = [path.basename(first), path.basename(second)];
    work = fs.mkdtempSync(path.join(os.tmpdir(), "tamper-"));
    toolV2 = JSON.parse(fs.readFileSync(path.join(first, "manifest.json"), "utf8")).schema === SCHEMA_V2;
    // The folders exactly as the tool sealed them, for npm run verify; for Python, the same in the
    // documented format (a copy converted when the tool still seals @1).
    const tsRoot = path.join(work, "base-ts");
    fs.mkdirSync(tsRoot);
    for (const id of ids) fs.cpSync(path.join(archive, id), path.join(tsRoot, id), { recursive: true });
    const pyRoot = path.join(work, "base-py");
    fs.cpSync(tsRoot, pyRoot, { recursive: true });
    for (const id of ids) toV2(path.join(pyRoot, id));
    const report = (root: string, name: string) => {
      const file = path.join(work, name);
      fs.writeFileSync(file, anchorReport(ids.map((id) => path.join(root, id))));
      return file;
    };
    ts = { root: tsRoot, ids, report: report(tsRoot, "report-ts.md") };
    py = { root: pyRoot, ids, report: report(pyRoot, "report-py.md") };
    traceLines = () => lines(path.join(pyRoot, ids[0], TRACE)).length;
  });

  after(() => {
    const w = [44, 72, 72];
    const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
    const out = [
      `tamper table (tool seals ${toolV2 ? "@2" : "@1"}; npm run verify checks anchors)`,
      `${cut("row", w[0])} | ${cut("npm run verify", w[1])} | ${cut("verify_session.py", w[2])}`,
      ...table.map((r) => `${cut(r.row, w[0])} | ${cut(r.ts, w[1])} | ${cut(r.py, w[2])}`),
    ];
    console.log(out.join("\n"));
    for (const d of [work, archiveRoot]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test("a clean copy passes both verifiers, anchor included", () => {
    const c = copyOf(py, "clean-py");
    const p = runPython(c.a, py.report);
    assert.equal(p.code, 0, p.out);
    assert.ok(
      p.findings.some((f) => f.level === "ok" && f.message.startsWith("anchor matches")),
      p.out,
    );
    const t = runTs(copyOf(ts, "clean-ts").a, ts.report);
    assert.equal(t.code, 0, t.out);
    table.push({ row: "clean copy", ts: "verify: OK", py: "verify: OK" });
  });

  test("both verifiers read a folder sealed by an older tool (manifest@1, journal unchained), with a warning", () => {
    const dir = copyOf(ts, "old").a;
    toV1(dir);
    const report = path.join(work, "report-old.md");
    fs.writeFileSync(report, "# Payment E2E live report\n"); // no block: the anchor is a separate question
    const p = runPython(dir, report);
    assert.equal(p.code, 0, p.out);
    assert.ok(
      p.findings.some((f) => f.level === "WARN" && /journal not chained/.test(f.message)),
      p.out,
    );
    const t = runTs(dir, report);
    assert.equal(t.code, 0, t.out);
    assert.ok(
      t.findings.some((f) => f.level === "WARN" && /older tool/.test(f.message)),
      t.out,
    );
  });

  for (const row of ROWS) {
    test(row.name, () => {
      const slug = row.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      const cp = copyOf(py, `${slug}-py`);
      const want = { file: row.file, line: row.line?.(cp) };
      row.tamper(cp);
      const p = runPython(cp.a, py.report);
      const matches = (f: Finding, lineToo = true) =>
        f.level === "ERROR" && f.file === want.file && (!lineToo || want.line === undefined || f.line === want.line);
      const pHit = p.findings.find((f) => matches(f));
      assert.equal(p.code, 1, `Python must FAIL:\n${p.out}`);
      assert.ok(pHit, `Python must name ${want.file}${want.line ? `:${want.line}` : ""}:\n${p.out}`);

      const ct = copyOf(ts, `${slug}-ts`);
      row.tamper(ct);
      const t = runTs(ct.a, ts.report);
      const tHit = t.findings.find((f) => matches(f));
      const missing = (row.tsNeeds ?? []).filter((n) => n === "chain" && !toolV2);
      let tsCell: string;
      if (tHit && t.code === 1) {
        tsCell = where(tHit);
        // Agreement: the same file, and the same line where a line applies.
        assert.equal(`${tHit.file}:${tHit.line ?? ""}`, `${pHit.file}:${pHit.line ?? ""}`, "the verifiers disagree");
      } else if (missing.length) {
        tsCell = `todo (needs ${missing.map((n) => (n === "chain" ? "the chained journal, manifest@2" : "the anchor check")).join(" and ")})${t.code === 1 ? `; now: ${where(t.findings.find((f) => f.level === "ERROR"))}` : "; now: OK"}`;
      } else if (row.tsLineNeedsChain && !toolV2 && t.code === 1 && t.findings.some((f) => matches(f, false))) {
        tsCell = `line todo (needs the chained journal); now: ${where(t.findings.find((f) => matches(f, false)))}`;
      } else {
        assert.fail(`npm run verify must FAIL naming ${want.file}${want.line ? `:${want.line}` : ""}:\n${t.out}`);
      }
      table.push({ row: row.name, ts: tsCell, py: where(pHit) });
    });
  }
});
