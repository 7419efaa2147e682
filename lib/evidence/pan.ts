/**
 * The one card-number detector (issue 14 §5, issue 25 item 3), used by the redactor, the scanner
 * and through it the pre-commit hook. A card is found in every written form: the text is first
 * normalised into a digit view that remembers, for each of its characters, the span of the
 * original text it came from, so a masked card replaces its whole written form.
 *
 * Normalisation, one pass, linear: percent-encoding (`%20`, `%2D`, `%E2%80%93`), HTML entities
 * (`&nbsp;`, `&#8211;`, `&#x2013;`, `&ndash;`) and JSON escapes (`\n`, `\u2013`) are decoded;
 * format characters (Unicode Cf: zero-width space and joiners, word joiner, soft hyphen, BOM) are
 * dropped (a word boundary next to a letter); every space (Zs, Zl, Zp, other whitespace) reads as a tab, every dash (Pd, minus sign)
 * as `-`; digits of any script (Nd: Arabic-Indic, Devanagari, mathematical, full-width) read as
 * ASCII, and anything else goes through NFKC. Then digit runs are Luhn-checked and their
 * separators (space, dash, `.`, `/`, `_`, `,`, `:`) judged card-shaped or not.
 */

/** A span of the original text to mask, and its replacement (`[PAN ****4242]`). */
export interface PanSpan {
  start: number;
  end: number;
  replacement: string;
}

/** Luhn checksum; spaces and dashes are ignored. Example: luhnValid("79927398713") === true. */
export function luhnValid(digits: string): boolean {
  const d = digits.replace(/[ -]/g, "");
  if (!/^\d{2,}$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let n = d.charCodeAt(d.length - 1 - i) - 48;
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

/** Masks a card number to its last 4 digits. Example: maskPan(<16 digits ending 4242>) === "[PAN ****4242]". */
export function maskPan(digits: string): string {
  const d = digits.replace(/\D/g, "");
  return `[PAN ****${d.slice(-4)}]`;
}

export function isPan(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1*$/.test(digits) && luhnValid(digits);
}

/** HTML entities that name a space, a dash or a format character (the numeric forms are decoded generally). */
const NAMED: Record<string, number> = {
  nbsp: 0xa0,
  ensp: 0x2002,
  emsp: 0x2003,
  emsp13: 0x2004,
  emsp14: 0x2005,
  numsp: 0x2007,
  puncsp: 0x2008,
  thinsp: 0x2009,
  hairsp: 0x200a,
  MediumSpace: 0x205f,
  NoBreak: 0x2060,
  ZeroWidthSpace: 0x200b,
  zwnj: 0x200c,
  zwj: 0x200d,
  shy: 0xad,
  dash: 0x2010,
  hyphen: 0x2010,
  ndash: 0x2013,
  mdash: 0x2014,
  horbar: 0x2015,
  minus: 0x2212,
  comma: 0x2c,
  colon: 0x3a,
  period: 0x2e,
  sol: 0x2f,
  lowbar: 0x5f,
  Tab: 0x09,
  NewLine: 0x0a,
};
const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,15}));/y;
const HEX2 = /^[0-9a-fA-F]{2}$/;

/** A format character (Cf), before digitView decides whether it is dropped or a word boundary. */
const FORMAT = "\u0001";

/** How a non-ASCII code point reads in the digit view: FORMAT, "\t" a space, "-" a dash, a digit, or its NFKC form. */
const viewCache = new Map<number, string>();
function view(cp: number): string {
  const hit = viewCache.get(cp);
  if (hit !== undefined) return hit;
  const ch = String.fromCodePoint(cp);
  let v: string;
  if (/\p{Cf}/u.test(ch)) v = FORMAT;
  else if (/[\p{Zs}\p{Zl}\p{Zp}\s]/u.test(ch)) v = "\t";
  else if (/\p{Pd}/u.test(ch) || cp === 0x2212) v = "-";
  else if (/\p{Nd}/u.test(ch)) v = String(digitValue(cp));
  else
    v = [...ch.normalize("NFKC")]
      .map((c) => (/\p{Nd}/u.test(c) ? String(digitValue(c.codePointAt(0) ?? 0)) : c))
      .join("");
  if (viewCache.size < 10_000) viewCache.set(cp, v);
  return v;
}

/** The value of a decimal digit of any script: Nd digits come in runs of ten, from 0 to 9. */
function digitValue(cp: number): number {
  let zero = cp;
  while (zero > 0 && /\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
  return (cp - zero) % 10;
}

/** A code point written `%XX` (one to four UTF-8 bytes) at `i`: [code point, length] or null. */
function percentAt(s: string, i: number): [number, number] | null {
  const byte = (k: number) =>
    s[k] === "%" && HEX2.test(s.slice(k + 1, k + 3)) ? Number.parseInt(s.slice(k + 1, k + 3), 16) : -1;
  const b0 = byte(i);
  if (b0 < 0) return null;
  if (b0 < 0x80) return [b0, 3];
  const n = b0 >= 0xf0 && b0 < 0xf8 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : -1;
  if (n < 0) return null;
  let cp = b0 & (0x3f >> n);
  for (let k = 1; k <= n; k++) {
    const b = byte(i + 3 * k);
    if (b < 0x80 || b >= 0xc0) return null;
    cp = (cp << 6) | (b & 0x3f);
  }
  return cp <= 0x10ffff ? [cp, 3 * (n + 1)] : null;
}

/** A JSON escape at `i` (`\n`, `\uXXXX`, a surrogate pair of them): [code point, length] or null. */
function escapeAt(s: string, i: number): [number, number] | null {
  const c = s[i + 1];
  if (c === "n" || c === "r" || c === "t") return [0x0a, 2];
  if (c !== "u" || !/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) return null;
  const hi = Number.parseInt(s.slice(i + 2, i + 6), 16);
  if (
    hi >= 0xd800 &&
    hi < 0xdc00 &&
    s.startsWith("\\u", i + 6) &&
    /^[dD][c-fC-F][0-9a-fA-F]{2}$/.test(s.slice(i + 8, i + 12))
  )
    return [0x10000 + ((hi - 0xd800) << 10) + (Number.parseInt(s.slice(i + 8, i + 12), 16) - 0xdc00), 12];
  return [hi, 6];
}

/** An HTML entity at `i` that names a code point: [code point, length] or null. */
function entityAt(s: string, i: number): [number, number] | null {
  ENTITY.lastIndex = i;
  const m = ENTITY.exec(s);
  if (!m) return null;
  const cp = m[1] ? Number(m[1]) : m[2] ? Number.parseInt(m[2], 16) : NAMED[m[3]];
  return cp !== undefined && cp <= 0x10ffff ? [cp, m[0].length] : null;
}

/** Nothing to decode or normalise: the digit view is the text itself. */
const PLAIN = /^[\x00-\x24\x27-\x5b\x5d-\x7f]*$/;

/** The digit view of `s`: its text, and for each of its characters the span of `s` it came from. */
export function digitView(s: string): { text: string; from: (i: number) => number; to: (i: number) => number } {
  if (PLAIN.test(s)) return { text: s, from: (i) => i, to: (i) => i + 1 };
  const parts: string[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const push = (ch: string, a: number, b: number) => {
    parts.push(ch);
    from.push(a);
    to.push(b);
  };
  const letter = (ch: string | undefined) => ch !== undefined && /[A-Za-z]/.test(ch);
  // Format characters are dropped (4242<ZWSP>4242 is one run), but next to a letter they stay a
  // boundary: "face<ZWSP>4242…" is a word and a card, not one hexadecimal token.
  let format: [number, number] | null = null;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    const decoded = c === 0x25 ? percentAt(s, i) : c === 0x26 ? entityAt(s, i) : c === 0x5c ? escapeAt(s, i) : null;
    const cp = decoded ? decoded[0] : (s.codePointAt(i) ?? c);
    const len = decoded ? decoded[1] : cp > 0xffff ? 2 : 1;
    const v = cp < 0x80 ? String.fromCharCode(cp) : view(cp);
    if (v === FORMAT) format = [format?.[0] ?? i, i + len];
    else if (v.length > 0) {
      if (format && (letter(parts[parts.length - 1]) || letter(v[0]))) push(FORMAT, format[0], format[1]);
      format = null;
      for (let k = 0; k < v.length; k++) push(v[k], i, i + len);
    }
    i += len;
  }
  return { text: parts.join(""), from: (i) => from[i], to: (i) => to[i] };
}

// A run of digit groups in the digit view: up to 4 separator characters between two groups; not
// the fractional part of a decimal number (SVG and JSON floats). Letters may touch it (a PAN glued
// to a word); a run inside a hexadecimal token (a hash, a UUID) is not a card.
const DIGIT_RUN = /(?<![0-9]|\d\.)\d+(?:[\s._/,:-]{1,4}\d+)*(?![0-9]|\.\d)/g;

/**
 * Whether the maximal letter-and-digit token around [start, end) is hexadecimal (a hash, an id),
 * not prose. One scanner per string: a token is measured once, however many digit runs it holds
 * (measuring it per run was quadratic on a long alphanumeric string).
 */
function hexTokenCheck(s: string): (start: number, end: number) => boolean {
  const word = /[A-Za-z0-9]/;
  let from = -1;
  let to = -1;
  let hex = false;
  return (start, end) => {
    if (!word.test(s[start - 1] ?? "") && !word.test(s[end] ?? "")) return false;
    if (start < from || start >= to) {
      from = start;
      to = end;
      while (from > 0 && word.test(s[from - 1])) from--;
      while (to < s.length && word.test(s[to])) to++;
      hex = /^[0-9a-fA-F]+$/.test(s.slice(from, to));
    }
    return hex;
  };
}

/**
 * The kind of a separator: any run of spaces (tabs, line breaks) is "space"; one of `-`, `.`, `/`,
 * `_`, `,`, `:` (alone, or with spaces around: " - ", ", ") is that character; anything else "mixed".
 */
function sepKind(sep: string): string {
  if (/^\s+$/.test(sep)) return "space";
  const m = /^\s*([-._/,:])\s*$/.exec(sep);
  return m ? m[1] : "mixed";
}

/**
 * Whether a window of groups is written like a card: one plain space or dash between groups (as
 * before), or else one kind of separator throughout with groups of 4 or 8 digits (a card split in
 * halves across lines) but the last, or 4-6-5. A lone group right after a `.` is a decimal's
 * fractional part, never a card. Commas and colons also separate lists and times: with them the
 * window must be the whole run (a JSON array of many 4-digit numbers is not a card).
 */
function cardShaped(run: string, groups: Array<{ start: number; end: number }>, i: number, j: number): boolean {
  const sepBefore = (k: number) => run.slice(groups[k - 1].end, groups[k].start);
  if (i === j) return i === 0 || sepBefore(i) !== ".";
  const seps = Array.from({ length: j - i }, (_, k) => sepBefore(i + k + 1));
  if (seps.every((x) => x === " " || x === "-")) return true;
  const kinds = new Set(seps.map(sepKind));
  if (kinds.size !== 1 || kinds.has("mixed")) return false;
  if ((kinds.has(",") || kinds.has(":")) && (i > 0 || j < groups.length - 1)) return false;
  const lens = groups.slice(i, j + 1).map((g) => g.end - g.start);
  if (lens.join("-") === "4-6-5") return true;
  const last = lens[lens.length - 1];
  // Line breaks may split a card in halves (8 + 8); other separators only ever separate groups of 4,
  // so a decimal number (4 digits, a dot, 13 decimals) is never read as a card.
  const inner = kinds.has("space") ? [4, 8] : [4];
  return lens.slice(0, -1).every((n) => inner.includes(n)) && last <= (kinds.has("space") ? 8 : 4);
}

/**
 * Card numbers in `text`, as spans of `text` covering each whole written form: a digit run, a
 * window of its groups (a 4-4-4-4 card followed by an expiry), or a card glued to its expiry (MMYY).
 */
export function panSpans(text: string): PanSpan[] {
  const out: PanSpan[] = [];
  const dv = digitView(text);
  const s = dv.text;
  const push = (a: number, b: number, digits: string) =>
    out.push({ start: dv.from(a), end: dv.to(b - 1), replacement: maskPan(digits) });
  const insideHexToken = hexTokenCheck(s);
  for (const m of s.matchAll(DIGIT_RUN)) {
    const run = m[0];
    const base = m.index ?? 0;
    if (insideHexToken(base, base + run.length)) continue;
    const groups: Array<{ start: number; end: number }> = [];
    const re = /\d+/g;
    for (let g = re.exec(run); g; g = re.exec(run)) groups.push({ start: g.index, end: g.index + g[0].length });
    if (groups.length === 1 && run.length >= 17 && run.length <= 23) {
      // A PAN and its expiry typed without a space: the last four digits a month (01–12) and a year.
      const pan = run.slice(0, -4);
      if (/^(0[1-9]|1[0-2])\d\d$/.test(run.slice(-4)) && isPan(pan)) {
        push(base, base + run.length, pan);
        continue;
      }
    }
    for (let i = 0; i < groups.length; i++) {
      let best = -1;
      let digits = "";
      for (let j = i; j < groups.length; j++) {
        const len = groups[j].end - groups[j].start;
        // Card groups are 3+ digits (4-4-4-4, 4-6-5); shorter groups (dates, versions) end a window.
        if (groups.length > 1 && len < 3) break;
        digits += run.slice(groups[j].start, groups[j].end);
        if (digits.length > 19) break;
        if (isPan(digits) && cardShaped(run, groups, i, j)) best = j;
      }
      if (best >= 0) {
        push(base + groups[i].start, base + groups[best].end, run.slice(groups[i].start, groups[best].end));
        i = best;
      }
    }
  }
  return out;
}
