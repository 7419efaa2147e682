/**
 * Issue 14 §5: every written form of a card number is masked by the redactor and reported by the
 * scanner (one detector, lib/evidence/detect.ts), and so are credentials in URLs. The card numbers
 * are built from groups here, so this file itself passes the pre-commit scan.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { redactString } from "../../lib/evidence/redact";
import { scanText } from "../../lib/evidence/scan";
import { SecretRegistry } from "../../lib/evidence/secrets";

const G = ["4242", "4242", "4242", "4242"];
const PAN = G.join("");
const AMEX = ["3782", "822463", "10005"];
const fullWidth = (s: string) => s.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)));
const reg = () => new SecretRegistry();

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

  const CLEAN: Array<[string, string]> = [
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
