/**
 * canonicalJson is RFC 8785 (JCS): the RFC's own examples, so an auditor's JCS library in any
 * language gives the same bytes (and so the same hashes) as ours.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CANONICAL_MAX_DEPTH, canonicalJson, sha256, toJsonValue } from "../../lib/evidence/canonical";
import { CanonicalJsonError, EvidenceError } from "../../lib/errors";

const ieee = (hex: string) => Buffer.from(hex, "hex").readDoubleBE(0);

describe("canonicalJson: RFC 8785 Appendix B numbers", () => {
  const rows: Array<[string, string]> = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"], // -0
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  for (const [hex, want] of rows) it(`${hex} -> ${want}`, () => assert.equal(canonicalJson(ieee(hex)), want));

  it("the brief's examples: 1e-7, 0.000001, 1e+21, integers without .0", () => {
    assert.equal(canonicalJson([1e-7, 0.000001, 1e21, 5.0, -0]), "[1e-7,0.000001,1e+21,5,0]");
  });

  for (const hex of ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
    it(`${hex} (NaN or Infinity) is refused with a code, never written as null`, () => {
      assert.throws(
        () => canonicalJson({ a: [1, ieee(hex)] }),
        (e: unknown) =>
          e instanceof CanonicalJsonError &&
          e instanceof EvidenceError &&
          e.code === "EVIDENCE_CANONICAL" &&
          /\$\.a\[1\]: (NaN|-?Infinity) is not a JSON number/.test(e.message),
      );
    });
});

describe("canonicalJson: RFC 8785 §3.2.3 key order (UTF-16 code units)", () => {
  it("sorts the RFC's seven keys as the RFC does", () => {
    const input = JSON.parse(
      String.raw`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
    );
    const values = Object.values(JSON.parse(canonicalJson(input)) as Record<string, string>);
    // Object.values lists "1" first (an integer key); the canonical text is what is checked below.
    const text = canonicalJson(input);
    const order = [...text.matchAll(/:"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(order, [
      "Carriage Return",
      "One",
      "Control",
      "Latin Small Letter O With Diaeresis",
      "Euro Sign",
      "Emoji: Grinning Face",
      "Hebrew Letter Dalet With Dagesh",
    ]);
    assert.equal(values.length, 7);
    assert.ok(text.startsWith(String.raw`{"\r":"Carriage Return","1":"One","`), text);
    assert.ok(text.includes('"\u0080":"Control","ö":'), "U+0080 and ö are written literally");
  });
});

describe("canonicalJson: RFC 8785 §3.2.2 example", () => {
  it("gives the RFC's bytes and their SHA-256 recomputes", () => {
    const input = JSON.parse(String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`);
    const want = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    assert.equal(canonicalJson(input), want);
    assert.equal(sha256(canonicalJson(input)), sha256(want));
  });

  it("escapes only what ECMAScript JSON.stringify escapes", () => {
    // U+007F and above are written literally.
    assert.equal(canonicalJson("\b\t\n\f\r\u0001\u001f \u007f é"), `${String.raw`"\b\t\n\f\r\u0001\u001f `}\u007f é"`);
  });

  it("refuses a lone surrogate (not I-JSON)", () => {
    assert.throws(() => canonicalJson({ k: "a\ud800" }), /\$\.k: a lone UTF-16 surrogate/);
  });
});

describe("canonicalJson: JavaScript values", () => {
  const rows: Array<[unknown, string]> = [
    [{ b: 1, a: [2, undefined], c: undefined }, '{"a":[2,null],"b":1}'],
    [{ z: { y: "x", a: null } }, '{"z":{"a":null,"y":"x"}}'],
    ["é\n", '"é\\n"'],
    [new Date(0), '"1970-01-01T00:00:00.000Z"'],
    [12345678901234567890n, '"12345678901234567890"'],
  ];
  for (const [v, s] of rows) it(s, () => assert.equal(canonicalJson(v), s));
});

describe("toJsonValue (writers' lenient path)", () => {
  it("turns non-finite numbers into null and lone surrogates into U+FFFD, as a JavaScript writer always did", () => {
    assert.equal(
      canonicalJson(toJsonValue({ n: Number.NaN, i: [Number.POSITIVE_INFINITY], s: "cut\ud83d", d: new Date(0) })),
      '{"d":"1970-01-01T00:00:00.000Z","i":[null],"n":null,"s":"cut\ufffd"}',
    );
  });
});

describe("nesting depth (issue 25 item 4)", () => {
  const nested = (depth: number) => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
    return v;
  };
  it(`up to ${CANONICAL_MAX_DEPTH} levels are written as JSON.stringify would`, () => {
    const v = nested(CANONICAL_MAX_DEPTH);
    assert.equal(canonicalJson(v), JSON.stringify(v));
    assert.deepEqual(toJsonValue(v), v);
  });
  for (const depth of [2_000, 100_000])
    it(`${depth.toLocaleString("en")} levels: CanonicalJsonError, not a stack overflow`, () => {
      const v = nested(depth);
      for (const f of [() => canonicalJson(v), () => toJsonValue(v)])
        assert.throws(f, (e: unknown) => {
          assert.ok(e instanceof CanonicalJsonError, String(e));
          assert.match(e.message, new RegExp(`nested deeper than ${CANONICAL_MAX_DEPTH} levels`));
          assert.doesNotMatch(e.message, /\n/);
          assert.ok(e.message.length < 300, e.message);
          return true;
        });
    });
});
