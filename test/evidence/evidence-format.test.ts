/**
 * docs/evidence-format.md is checked against the code: its worked example is extracted from the
 * Markdown and recomputed with the TypeScript chain code and with the Python verifier, and the
 * verifier's RFC 8785 canonical JSON is tested against the RFC's examples and against JavaScript
 * itself (numbers, strings, key order), so the page, the tool and the verifier cannot drift apart.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { canonicalJson, sha256 } from "../../lib/evidence/canonical";
import { type TraceEvent, eventHash, serializeEvent } from "../../lib/evidence/chain";
import { formatAnchor, parseAnchor } from "../../lib/evidence/anchor";
import { FIELDS, GENESIS, hashInput, rechain, reseal, serializeLine } from "./format-v2";

const ROOT = path.resolve(__dirname, "../..");
const DOC = path.join(ROOT, "docs", "evidence-format.md");
const VERIFIER_DIR = path.join(ROOT, "verifier");
const PYTHON = process.env.PYTHON ?? "python3";

/** The fenced block right after `<!-- example:<name> -->`, as lines. */
function example(name: string): string[] {
  const doc = fs.readFileSync(DOC, "utf8");
  const at = doc.indexOf(`<!-- example:${name} -->\n`);
  assert.ok(at >= 0, `docs/evidence-format.md has no example ${name}`);
  const m = /^```[\w-]*\n([\s\S]*?)```\n/.exec(doc.slice(doc.indexOf("\n", at) + 1));
  assert.ok(m, `example ${name} is not followed by a fenced block`);
  return m[1].split("\n").slice(0, -1);
}

/** Runs Python code with the verifier importable as `v`, passing `input` as JSON; returns its JSON output. */
function python(code: string, input: unknown): unknown {
  const prog = `import json, struct, sys\nsys.path.insert(0, ${JSON.stringify(VERIFIER_DIR)})\nimport verify_session as v\ninp = json.load(sys.stdin)\n${code}`;
  const r = spawnSync(PYTHON, ["-c", prog], {
    input: JSON.stringify(input),
    encoding: "utf8",
    env: { ...process.env, PYTHONIOENCODING: "utf-8" },
  });
  if (r.error)
    throw new Error(`${PYTHON} not found: the Python verifier's tests need Python 3.9+ (${r.error.message})`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const CHAINS = ["trace.jsonl", "state.jsonl"] as const;

describe("docs/evidence-format.md: the worked example recomputes", () => {
  test("the anchor example is the strict form both verifiers read, for the example's chain heads", () => {
    const line = example("anchor")[0].replace("<64 hex>", "a".repeat(64));
    const a = parseAnchor(line);
    assert.ok(a, `not a strict anchor: ${line}`);
    assert.equal(formatAnchor(a), line, "the tool writes it byte for byte");
    assert.equal(a.traceHead, example("trace.jsonl:sha256")[1]);
    assert.equal(a.journalHead, example("state.jsonl:sha256")[1]);
    const py = python("print(json.dumps(v.parse_strict_anchor(inp)))", line) as unknown[];
    assert.deepEqual(py, [a.manifestSha256, a.traceHead, a.traceLines, a.journalHead, a.journalLines]);
  });

  for (const file of CHAINS) {
    test(`${file}: TypeScript gives the documented bytes, hashed JSON and SHA-256`, () => {
      const ls = example(file);
      const hashed = example(`${file}:hashed`);
      const shas = example(`${file}:sha256`);
      assert.equal(ls.length, 2);
      let prev = GENESIS;
      ls.forEach((raw, i) => {
        const e = JSON.parse(raw) as Record<string, unknown>;
        assert.equal(e.seq, i + 1);
        assert.equal(e.prev, prev);
        assert.equal(hashInput(e, FIELDS[file]), hashed[i], "the canonical JSON hashed");
        assert.equal(sha256(hashed[i]), shas[i]);
        assert.equal(crypto.createHash("sha256").update(Buffer.from(hashed[i], "utf8")).digest("hex"), shas[i]);
        assert.equal(e.hash, shas[i]);
        assert.equal(serializeLine(e, FIELDS[file]), raw, "the line's bytes");
        if (file === "trace.jsonl") {
          // The tool's own trace code agrees with the document.
          assert.equal(serializeEvent(e as unknown as TraceEvent), raw);
          assert.equal(eventHash(e as unknown as TraceEvent), shas[i]);
        }
        prev = shas[i];
      });
    });
  }

  test("Python gives the same bytes, hashed JSON and SHA-256", () => {
    const input = CHAINS.map((f) => ({ file: f, lines: example(f) }));
    const out = python(
      `res = []
for c in inp:
    fields = v.CHAINS[c["file"]][1]
    prev = v.GENESIS
    for n, raw in enumerate(c["lines"], 1):
        e, reason = v.check_line(raw.encode("utf-8"), n, prev, fields)
        res.append({"reason": reason, "hashed": v.hash_input(e, fields), "sha": v.sha256_hex(v.hash_input(e, fields)), "line": v.serialize_line(e, fields)})
        prev = e["hash"]
print(json.dumps(res, ensure_ascii=False))`,
      input,
    ) as Array<{ reason: string | null; hashed: string; sha: string; line: string }>;
    const want = CHAINS.flatMap((f) =>
      example(f).map((line, i) => ({
        reason: null,
        hashed: example(`${f}:hashed`)[i],
        sha: example(`${f}:sha256`)[i],
        line,
      })),
    );
    assert.deepEqual(out, want);
  });

  test("the example, sealed as a folder, passes the Python verifier", () => {
    const dir = exampleFolder();
    const r = spawnSync(PYTHON, [path.join(VERIFIER_DIR, "verify_session.py"), dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^verify: OK - session 20261120T140211Z-sandbox \(sandbox\), 2 file\(s\)/m);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  test("a journal repaired after a torn write verifies; a repair without its quarantine record warns", () => {
    const dir = exampleFolder();
    const fragment = '{"seq":3,"at":"2026-11-20T14:02:14.000Z","kind":"order_int';
    const sha = crypto.createHash("sha256").update(fragment).digest("hex");
    const journal = path.join(dir, "state.jsonl");
    const data = { bytes: Buffer.byteLength(fragment), sha256: sha, quarantine_file: "state.quarantine.jsonl" };
    fs.appendFileSync(
      journal,
      `${JSON.stringify({ seq: 3, at: "2026-11-20T14:05:00.000Z", kind: "journal_repaired", data })}\n`,
    );
    rechain(journal, "state.jsonl");
    const record = { at: "2026-11-20T14:05:00.000Z", bytes: data.bytes, sha256: sha, fragment };
    const quarantine = path.join(dir, "state.quarantine.jsonl");
    fs.writeFileSync(quarantine, `${JSON.stringify(record)}\n`);
    reseal(dir);
    const run = () => spawnSync(PYTHON, [path.join(VERIFIER_DIR, "verify_session.py"), dir], { encoding: "utf8" });
    let r = run();
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /^ok +state\.jsonl:3: torn tail repaired, fragment kept in state\.quarantine\.jsonl$/m);
    fs.writeFileSync(quarantine, `${JSON.stringify({ ...record, sha256: "0".repeat(64) })}\n`);
    reseal(dir);
    r = run();
    assert.match(r.stdout, /^WARN +state\.jsonl:3: journal_repaired: no record of the torn fragment/m);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  test("usage: exit 2 for a missing folder or report; a report without the session's block warns", () => {
    const dir = exampleFolder();
    const py = (...args: string[]) =>
      spawnSync(PYTHON, [path.join(VERIFIER_DIR, "verify_session.py"), ...args], { encoding: "utf8" });
    assert.equal(py(path.join(dir, "nope")).status, 2);
    assert.equal(py(dir, "--report", path.join(dir, "nope.md")).status, 2);
    assert.equal(py().status, 2);
    const report = path.join(path.dirname(dir), "report.md");
    fs.writeFileSync(
      report,
      "# report\n\n<!-- session:20261120T140211Z-sandbox -->\nno anchor here\n<!-- /session:20261120T140211Z-sandbox -->\n",
    );
    const r = py(dir, "--report", report);
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /^WARN +\S*report\.md:3: session block has no anchor; the folder is not anchored/m);
    fs.writeFileSync(report, "# report\n");
    assert.match(py(dir, "--report", report).stdout, /^WARN +\S*report\.md: no block for session/m);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });
});

/** The worked example as a sealed @2 folder (manifest written by the document's rules). */
function exampleFolder(): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "format-")), "20261120T140211Z-sandbox");
  fs.mkdirSync(dir);
  for (const f of CHAINS)
    fs.writeFileSync(
      path.join(dir, f),
      example(f)
        .map((l) => `${l}\n`)
        .join(""),
    );
  const manifest = {
    schema: "payment-e2e/manifest@2",
    session_id: "20261120T140211Z-sandbox",
    mode: "sandbox",
    created_at: "2026-11-20T14:10:00.000Z",
    retention_until: "2027-11-20",
    tool_version: "0.1.0",
    git_commit: null,
    trace_file: "trace.jsonl",
    chain_head: "",
    trace_lines: 0,
    journal_file: "state.jsonl",
    journal_head: "",
    journal_lines: 0,
    files: [],
  };
  fs.writeFileSync(path.join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  reseal(dir);
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  assert.equal(m.chain_head, example("trace.jsonl:sha256")[1]);
  assert.equal(m.journal_head, example("state.jsonl:sha256")[1]);
  return dir;
}

describe("the Python verifier's RFC 8785 canonical JSON", () => {
  test("RFC 8785 §3.2.2 / appendix B number examples (IEEE 754 bit patterns)", () => {
    const cases: Record<string, string> = {
      "0000000000000000": "0",
      "8000000000000000": "0",
      "0000000000000001": "5e-324",
      "8000000000000001": "-5e-324",
      "7fefffffffffffff": "1.7976931348623157e+308",
      ffefffffffffffff: "-1.7976931348623157e+308",
      "4340000000000000": "9007199254740992",
      c340000000000000: "-9007199254740992",
      "4430000000000000": "295147905179352830000",
      "44b52d02c7e14af5": "9.999999999999997e+22",
      "44b52d02c7e14af6": "1e+23",
      "44b52d02c7e14af7": "1.0000000000000001e+23",
      "444b1ae4d6e2ef4e": "999999999999999700000",
      "444b1ae4d6e2ef4f": "999999999999999900000",
      "444b1ae4d6e2ef50": "1e+21",
      "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
      "3eb0c6f7a0b5ed8d": "0.000001",
      "41b3de4355555553": "333333333.3333332",
      "41b3de4355555555": "333333333.3333333",
      becbf647612f3696: "-0.0000033333333333333333",
      "43143ff3c1cb0959": "1424953923781206.2",
    };
    // JavaScript agrees (the table is right), then Python must.
    for (const [hex, want] of Object.entries(cases))
      assert.equal(String(Buffer.from(hex, "hex").readDoubleBE(0)), want);
    const out = python(
      `print(json.dumps({h: v.es_number(struct.unpack(">d", bytes.fromhex(h))[0]) for h in inp}))`,
      Object.keys(cases),
    );
    assert.deepEqual(out, cases);
  });

  test("the RFC's canonicalization example and its key-sorting example", () => {
    const out = python(`print(json.dumps([v.jcs(v.parse_json(t)) for t in inp], ensure_ascii=False))`, [
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n "literals": [null, true, false]}',
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    ]) as string[];
    assert.equal(
      out[0],
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    // Keys by UTF-16 code units: U+1F600 (D83D DE00) before U+FB33. (Not through JSON.parse: JavaScript
    // objects list integer-like keys first.)
    assert.equal(
      out[1],
      `{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\u{1f600}":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}`,
    );
  });

  test("agrees with JavaScript on 3000 random doubles, every ASCII and some other characters, and nested objects", () => {
    const buf = crypto.randomBytes(8 * 2000);
    const doubles: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const d = buf.readDoubleBE(i * 8);
      if (Number.isFinite(d)) doubles.push(d);
    }
    for (let i = 0; i < 1000; i++)
      doubles.push(Number((Math.random() * 10 ** (Math.floor(Math.random() * 40) - 20)).toPrecision(1 + (i % 17))));
    doubles.push(1e-7, 1e-6, 1e20, 1e21, 123e-20, 0.1, -0.0, 2 ** 53 + 2, 5e-324);
    const hex = doubles.map((d) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(d);
      return b.toString("hex");
    });
    const chars = `${[...Array(128).keys()].map((c) => String.fromCharCode(c)).join("")}é€😀\u2028\u2029\ufeff`;
    const nested = { z: [1, 2.5, { b: null, a: true }], "\u00e9": "x", A: { "😀": 1, "\ufb33": 2 }, "": -0.0001 };
    const out = python(
      `print(json.dumps({"n": [v.es_number(struct.unpack(">d", bytes.fromhex(h))[0]) for h in inp["hex"]], "s": v.jcs(inp["chars"]), "o": v.jcs(inp["nested"])}))`,
      { hex, chars, nested },
    ) as { n: string[]; s: string; o: string };
    const bad = doubles.map((d, i) => [String(d), out.n[i]]).filter(([a, b]) => a !== b);
    assert.deepEqual(bad, [], "numbers that differ (JavaScript, Python)");
    assert.equal(out.s, JSON.stringify(chars));
    assert.equal(out.o, canonicalJson(nested));
  });

  test("refuses NaN and Infinity, numbers beyond a double, and lone surrogates (RFC 8785 needs I-JSON)", () => {
    const out = python(
      `res = []
for t in inp:
    try:
        res.append(v.jcs(v.parse_json(t)))
    except (ValueError, v.NotCanonicalizable) as e:
        res.append("refused")
print(json.dumps(res))`,
      ["[NaN]", "[Infinity]", "[-Infinity]", `[1${"0".repeat(400)}]`, "[1e400]", '["\\ud800"]', '["\\udc00x"]', "[10]"],
    );
    assert.deepEqual(out, ["refused", "refused", "refused", "refused", "refused", "refused", "refused", "[10]"]);
    assert.throws(() => canonicalJson(["\ud800"]), /lone UTF-16 surrogate/, "the tool refuses it too");
  });
});
