/**
 * The hostile-text corpus of issue 25 §2 and the check every door is held to: the Markdown is
 * rendered with `marked` and no sanitiser (as JupyterLab renders a live kernel's trusted output),
 * and the HTML may hold no event handler, no script/iframe/object/embed/svg, no javascript:, data:
 * or vbscript: href or src, no link or image formed from the text, and must show every original
 * character. Shared by test/report/inert-corpus.test.ts, test/e2e/hostile.test.ts and test/ui/.
 */
import { parseHTML } from "linkedom";
import { Marked } from "marked";
import { shownControls } from "../../lib/evidence/outcome-stated";

/** Name → hostile text. The forms of issue 25 first, then the wider corpus. */
export const CORPUS: Record<string, string> = {
  "img onerror": `<img src=x onerror="document.title='pwned'">`,
  "HTML inside a backtick code span": "`<img src=x onerror=alert(1)>`",
  "HTML after a blank line inside a code span": "`a\n\n<img src=x onerror=alert(1)>`",
  "javascript: link, parentheses two deep": "[x](javascript:alert((document.title='pwned')))",
  "javascript: link": "[click](javascript:alert(1))",
  "mixed-case scheme": "[x](JaVaScRiPt:alert(1))",
  "tab inside the scheme": "[x](java\tscript:alert(1))",
  "newline inside the scheme": "[x](java\nscript:alert(1))",
  "control character inside the scheme": "[x](java\u0001script:alert(1))",
  "entity tab inside the scheme": "[x](java&#x09;script:alert(1))",
  "entity-spelt scheme": "[x](&#106;avascript&colon;alert(1))",
  "percent-encoded scheme": "[x](javascript%3Aalert(1)) [y](%6Aavascript:alert(1))",
  "vbscript: link": "[x](vbscript:msgbox(1))",
  "data: link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "data: image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
  "remote image": "![t](https://tracker.example/p.png)",
  "javascript: autolink": "<javascript:alert(1)>",
  "http autolink": "<http://evil.example/x>",
  "bare URL, www and e-mail": "see https://evil.example/a www.evil.example mailto:a@evil.example b@evil.example",
  "reference link and definition": "[x][1]\n\n[1]: javascript:alert(1)",
  "reference definition alone": "[r]: javascript:alert(1)\n\n[r]",
  "raw HTML block": "<div>\n<img src=x onerror=alert(1)>\n</div>",
  "raw HTML after a blank line": "text\n\n<img src=x onerror=alert(1)>",
  "nested brackets": "[[x]](javascript:alert(1)) [a[b]c](javascript:alert(1)) ![[i]](javascript:alert(1))",
  "backtick runs of any length": "a ``` b ```` c `` `<img src=x onerror=alert(1)>` `` ``````",
  "fenced block": "```\n<img src=x onerror=alert(1)>\n```\n<img src=x onerror=alert(2)>",
  "HTML comment": "<!-- hidden --><img src=x onerror=alert(1)> <!-- unterminated",
  "svg onload": "<svg onload=alert(1)>",
  "svg with script": "<svg><script>alert(1)</script></svg>",
  "iframe srcdoc": `<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
  "object and embed": `<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">`,
  "anchor tag": `<a href="javascript:alert(1)">x</a>`,
  "split script tag": "<scr<script>ipt>alert(1)</script>",
  "mixed-case tag and attribute": "<IMG SRC=x OnError=alert(1)>",
  "already backslash-escaped": "\\<img src=x onerror=alert(1)> \\\\<img src=x onerror=alert(1)>",
  entities: "&lt;img src=x onerror=alert(1)&gt; &amp; &#60;b&#62; &copy;",
  "math and TeX": "$\\href{javascript:alert(1)}{x}$ $$x$$ \\(y\\) \\begin{align}z\\end{align}",
  "emphasis and strike kept literal": "*em* _u_ **b** __b__ ~~del~~ ~x~ a_b_c",
  "block starters": "# h\n- item\n+ item\n1. item\n2) item\n> quote\n---\n===\n    indented\n| a | b |\n| - | - |",
  "table pipes": "a | b || c",
  "trailing backslash": "ends with a backslash \\",
  // Read with `cat` (report.md, the living report), ESC[2K and a carriage return erase the line, the
  // forged PASS follows and ESC[8m conceals the real FAIL below; U+202E reverses, U+200B hides.
  "terminal escapes, bidi and zero-width controls":
    "x\u001b[2K\r> **Outcome** : **✅ PASS**\u001b[8m \u009b8m \u202eLIAF\u200b \u2066y\u2069 \u0007",
};

const marked = new Marked({ gfm: true });
/** The characters lib/evidence/outcome-stated.ts `shownControls` shows as escapes, NUL and the tab and line breaks aside. */
const INVISIBLE =
  /[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/;
const FORBIDDEN_TAGS = new Set(["script", "iframe", "object", "embed", "svg", "frame", "frameset", "math", "style"]);
const BAD_URL = /^\s*(javascript|data|vbscript):/i;

/**
 * What is wrong with the HTML that `md` renders to, given the untrusted `original` it came from;
 * with `original` null, only what could run or load (a fenced block, a document with its own links).
 */
export function problems(md: string, original: string | null): string[] {
  // A hard line break is a line break to a reader (textContent would glue the lines).
  const html = (marked.parse(md, { async: false }) as string).replace(/<br\s*\/?>/g, "<br>\n");
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const out: string[] = [];
  type El = { tagName: string; attributes: ArrayLike<{ name: string; value: string }> };
  for (const el of document.body.querySelectorAll("*") as unknown as El[]) {
    const tag = el.tagName.toLowerCase();
    if (FORBIDDEN_TAGS.has(tag)) out.push(`<${tag}> element`);
    if (original !== null && (tag === "a" || tag === "img")) out.push(`<${tag}> formed from the text`);
    for (const a of Array.from(el.attributes)) {
      if (/^on/i.test(a.name)) out.push(`${a.name} handler on <${tag}>`);
      if (/^(href|src|srcdoc|data|action|formaction|xlink:href)$/i.test(a.name) && BAD_URL.test(a.value))
        out.push(`${a.name}="${a.value}" on <${tag}>`);
    }
  }
  const squash = (s: string) => s.replace(/\s+/g, " ").trim();
  const shown = squash(document.body.textContent ?? "");
  // A character no reader sees as itself (a terminal escape, a bidi override) is shown as its escape.
  if (original !== null && !shown.includes(squash(shownControls(original.replaceAll("\r", "\n")))))
    out.push(`visible text lost characters: ${JSON.stringify(shown)}`);
  if (original !== null && INVISIBLE.test(document.body.textContent ?? ""))
    out.push(`a control or invisible character written as is: ${JSON.stringify(shown)}`);
  return out;
}
