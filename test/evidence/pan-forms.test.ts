/**
 * Issue 14 §5 and issue 25 item 3: every written form of a card number is masked by the redactor,
 * reported by the scanner and refused by the pre-commit hook (one detector, lib/evidence/pan.ts),
 * and so are credentials in URLs. The card numbers are built from groups here, so this file itself
 * passes the pre-commit scan.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { redactString } from "../../lib/evidence/redact";
import { scanText } from "../../lib/evidence/scan";
import { SecretRegistry } from "../../lib/evidence/secrets";

const G = ["4242", "4242", "4242", "4242"];
const PAN = G.join("");
const AMEX = ["3782", "822463", "10005"];
const fullWidth = (s: string) => s.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)));
const reg = () => new SecretRegistry();
/** The card's digits in another script: `zero` is that script's digit 0 (Nd digits run 0 to 9). */
const script = (zero: number, s: string) => s.replace(/\d/g, (d) => String.fromCodePoint(zero + Number(d)));
/** Every decimal digit of any script in `s`, as ASCII (what a reader could recover). */
const digitsOf = (s: string) =>
  [...s.normalize("NFKC")]
    .map((c) => {
      if (!/\p{Nd}/u.test(c)) return "";
      let zero = c.codePointAt(0) ?? 0;
      while (/\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
      return String(((c.codePointAt(0) ?? 0) - zero) % 10);
    })
    .join("");

const FORMS: Array<[string, string]> = [
  ["plain", `card ${PAN} ok`],
  ["spaces", `card ${G.join(" ")}`],
  ["non-breaking spaces", `card ${G.join("\u00a0")}`],
  ["narrow no-break spaces", `card ${G.join("\u202f")}`],
  ["double spaces", `card ${G.join("  ")}`],
  ["dots", `card ${G.join(".")}`],
  ["slashes", `card ${G.join("/")}`],
  ["underscores", `card ${G.join("_")}`],
  ["dashes", `card ${G.join("-")}`],
  ["tabs", `card ${G.join("\t")}`],
  ["Amex 4-6-5 with dots", `amex ${AMEX.join(".")}`],
  ["glued to letters", `cardnumber${PAN}expires`],
  ["glued to letters both sides, short words", `pan${PAN}x`],
  ["after a word of hexadecimal letters and a zero-width space", `fee\u200b${PAN}`],
  ["between zero-width spaces and hexadecimal words", `face\u200b${G.join("\u200b")}\u200bcafe`],
  ["followed by MMYY", `${PAN} 1229`],
  ["followed by MM/YY", `${G.join(" ")} 12/29`],
  ["glued to MMYY", `${PAN}1229`],
  ["split across lines", `${G.slice(0, 2).join(" ")}\n${G.slice(2).join(" ")}`],
  ["split across lines, no spaces", `${G.slice(0, 2).join("")}\n${G.slice(2).join("")}`],
  ["split across lines with indentation", `${G.slice(0, 2).join(" ")}\n   ${G.slice(2).join(" ")}`],
  ["JSON-escaped line break", `"${G.slice(0, 2).join("")}\\n${G.slice(2).join("")}"`],
  ["full-width digits", `card ${fullWidth(PAN)}`],
  ["full-width digits with spaces", `card ${fullWidth(G.join(" "))}`],
];

/**
 * Issue 25 item 3 (round two): written as `card <form> ok`, each must come out exactly as
 * `card [PAN ****4242] ok`: the mask covers the whole written form, separators and format
 * characters included.
 */
const ROUND_TWO: Array<[string, string]> = [
  ["zero-width spaces between groups", G.join("\u200b")],
  ["a zero-width space between every digit", PAN.split("").join("\u200b")],
  ["soft hyphens", G.join("\u00ad")],
  ["en dashes", G.join("\u2013")],
  ["em dashes", G.join("\u2014")],
  ["figure dashes", G.join("\u2012")],
  ["non-breaking hyphens", G.join("\u2011")],
  ["minus signs", G.join("\u2212")],
  ["word joiners", G.join("\u2060")],
  ["zero-width joiners", G.join("\u200d")],
  ["zero-width non-joiners", G.join("\u200c")],
  ["byte-order marks", G.join("\ufeff")],
  ["a word joiner and spaces", G.join(" \u2060")],
  ['" - "', G.join(" - ")],
  ['" – " (en dash)', G.join(" \u2013 ")],
  ["commas", G.join(",")],
  ["commas and spaces", G.join(", ")],
  ["colons", G.join(":")],
  ["thin spaces", G.join("\u2009")],
  ["figure spaces", G.join("\u2007")],
  ["ideographic spaces", G.join("\u3000")],
  ["%20", G.join("%20")],
  ["%2D", G.join("%2D")],
  ["%E2%80%93 (a percent-encoded en dash)", G.join("%E2%80%93")],
  ["%C2%A0 (a percent-encoded no-break space)", G.join("%C2%A0")],
  ["&nbsp;", G.join("&nbsp;")],
  ["&#160;", G.join("&#160;")],
  ["&#8211;", G.join("&#8211;")],
  ["&#x2013;", G.join("&#x2013;")],
  ["&ndash;", G.join("&ndash;")],
  ["&mdash;", G.join("&mdash;")],
  ["&shy;", G.join("&shy;")],
  ["JSON-escaped en dashes (\\u2013)", G.join("\\u2013")],
  ["JSON-escaped no-break spaces (\\u00a0)", G.join("\\u00a0")],
  ["Arabic-Indic digits", script(0x660, PAN)],
  ["Arabic-Indic digits with spaces", script(0x660, G.join(" "))],
  ["Extended Arabic-Indic digits", script(0x6f0, PAN)],
  ["Devanagari digits", script(0x966, PAN)],
  ["mathematical bold digits", script(0x1d7ce, PAN)],
  ["mathematical monospace digits", script(0x1d7f6, G.join(" "))],
  ["full-width digits with en dashes", fullWidth(G.join("\u2013"))],
];

describe("card number forms", () => {
  for (const [name, text] of FORMS)
    test(`${name}: masked to the last 4 and reported by the scanner`, () => {
      const masked = redactString(text, reg());
      assert.match(masked, /\[PAN \*\*\*\*(4242|0005)\]/, masked);
      const digits = masked.replace(/[\uff10-\uff19]/g, (c) => String(c.charCodeAt(0) - 0xff10)).replace(/\D/g, "");
      assert.ok(
        !digits.includes(PAN.slice(0, 12)) && !digits.includes("378282246310"),
        `no more than the last 4 remain: ${masked}`,
      );
      const hits = scanText(text, "report.md", reg());
      assert.ok(
        hits.some((h) => h.kind === "pan"),
        `scanner: ${JSON.stringify(hits)}`,
      );
    });

  for (const [name, form] of ROUND_TWO)
    test(`${name}: the whole written form masked to the last 4, reported by the scanner`, () => {
      const masked = redactString(`card ${form} ok`, reg());
      assert.equal(masked, "card [PAN ****4242] ok");
      assert.equal(digitsOf(masked), "4242");
      const hits = scanText(`card ${form} ok`, "report.md", reg());
      assert.deepEqual(
        hits.map((h) => [h.kind, h.column, h.excerpt]),
        [["pan", 6, "card [PAN ****4242] ok"]],
      );
    });

  // 64 four-digit numbers, as a plot's data or a JSON array holds them.
  const fourDigits = Array.from({ length: 64 }, (_, i) => 1000 + ((i * 7919 + 4242) % 9000));
  const CLEAN: Array<[string, string]> = [
    ["a JSON array of four-digit numbers", JSON.stringify(fourDigits)],
    ["a list of four-digit numbers with spaces", fourDigits.join(", ")],
    ["amounts with thousands separators", "1,234,567,890,123.45 EUR and 4,242,424,242,424,242 units"],
    ["times", "15:44:00 and 12:30:45.123"],
    ["ranges with en dashes", "2019\u20132026, pages 1234\u20131290, ids 4242424\u2013424242"],
    ["percent-encoded queries", "/search?q=a%20b%2Dc&n=1234&m=5678"],
    ["Arabic-Indic dates", script(0x660, "2026-11-26 15:44")],
    ["HTML entities between short numbers", "12&nbsp;345&ndash;678 &#8211; 2026"],
    ["a SHA-256 hex digest", `"hash":"${"ab".repeat(8)}${PAN}${"cd".repeat(8)}"`],
    ["a UUID", `id 0d4e${PAN.slice(0, 4)}-${PAN.slice(4, 8)}-4242-8242-${PAN.slice(0, 12)}`],
    ["SVG coordinates", `M${G.join(".")}5 L1.5 2.25 12.345 678.901 234.567 890.123`],
    ["decimal numbers", "x=0.4242424242424242 y=4242.42"],
    ["a float with many decimals", "Received 6493.0000000000001 and 4242.424242424242"],
    ["dates and times", "2026-11-26T15:44:00.123Z 2026/11/26 15:44"],
    ["versions", "v1.2.3 node 24.11.1 chromium 131.0.6778.85"],
    ["a non-Luhn number in groups of four", "1234 5678 9012 3456"],
  ];
  for (const [name, text] of CLEAN)
    test(`${name}: left alone`, () => {
      assert.equal(redactString(text, reg()), text);
      assert.deepEqual(scanText(text, "report.md", reg()), []);
    });
});

describe("the pre-commit hook", () => {
  const ROOT = path.resolve(__dirname, "../..");
  test("refuses a staged file holding every form, naming each line, never printing one", () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), "pan-hook-"));
    const git = (...args: string[]) =>
      spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], {
        cwd: repo,
        encoding: "utf8",
      });
    git("init", "-q");
    fs.mkdirSync(path.join(repo, "hooks"));
    fs.copyFileSync(path.join(ROOT, "hooks/pre-commit"), path.join(repo, "hooks/pre-commit"));
    fs.chmodSync(path.join(repo, "hooks/pre-commit"), 0o755);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
    fs.symlinkSync(path.join(ROOT, "lib"), path.join(repo, "lib"));
    fs.writeFileSync(path.join(repo, ".gitignore"), "node_modules\nlib\n");
    git("config", "core.hooksPath", "hooks");
    // One form a line, a blank line between, so no hit spans two forms.
    const forms = [
      ...FORMS.filter(([, t]) => !t.includes("\n")).map(([, t]) => t),
      ...ROUND_TWO.map(([, f]) => `card ${f} ok`),
    ];
    fs.writeFileSync(path.join(repo, "notes.md"), `${forms.join("\n\n")}\n`);
    git("add", "notes.md", ".gitignore", "hooks/pre-commit");
    const refused = git("commit", "-qm", "leak");
    assert.notEqual(refused.status, 0);
    const out = refused.stdout + refused.stderr;
    const lines = new Set([...out.matchAll(/notes\.md:(\d+): pan/g)].map((m) => Number(m[1])));
    const missed = forms.filter((_, k) => !lines.has(2 * k + 1));
    assert.deepEqual(missed, [], out);
    assert.ok(!out.includes(PAN) && !digitsOf(out).includes(PAN.slice(0, 12)), "no card number printed");
  });
});

describe("credentials in URLs", () => {
  const scheme = (s: string) => `${s}:/`;
  for (const url of [`${scheme("postgres")}/u:pw@db.internal/app`, `${scheme("https")}/ops:pw@grafana.example/d/1`])
    test(`${url.split("@")[1]}: masked and reported`, () => {
      assert.ok(!redactString(url, reg()).includes(":pw@"));
      assert.ok(
        scanText(url, "notes.md", reg()).some((h) => h.kind === "url_password"),
        "the scanner reports it",
      );
    });
  for (const doc of [
    `${scheme("postgres")}/user:PASSWORD@host/db`,
    `${scheme("postgres")}/postgres:…@127.0.0.1:5432/postgres`,
    `${scheme("postgres")}/reader:<password>@host/db`,
  ])
    test(`a documentation placeholder (${doc.split("@")[0].split(":").pop()}) is not reported`, () => {
      assert.deepEqual(scanText(doc, "README.md", reg()), []);
    });
});
