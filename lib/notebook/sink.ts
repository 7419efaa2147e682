/**
 * The one door between the runbook and the notebook's outputs (issue 14 §1–2). Every string the
 * notebook shows passes `safeMarkdown`: it is redacted as a whole (a reason, a banner, a fact, the
 * report: nothing can be shown unmasked by forgetting a call), then checked by `inertMarkdown`
 * (lib/report/inert.ts): outputs made by the running kernel are trusted by JupyterLab, so a product
 * title `<img onerror=…>` would run in the operator's browser. Backend and operator text is made
 * inert where it is put into the Markdown (`inertText`); should any raw HTML, or a link or image
 * leaving the web, anchors and relative files, still be there, the whole output is shown as a
 * fenced block (plain text) instead.
 *
 * The single exception is the checkout link of step 4, which must carry its client secret to be
 * paid: `link()` shows it unmasked, after checking it is an http(s) URL, in an output that the paid
 * cell overwrites with a redacted copy (and that the archive checks at seal time).
 */
import type { KernelCopy, OutputKind } from "../evidence/outputs";
import { redactString } from "../evidence/redact";
import { type SecretRegistry, secrets } from "../evidence/secrets";
import type { Sink } from "./index";
import { inertMarkdown } from "../report/inert";

/**
 * Markdown made safe to show: redacted, then shown as is when nothing in it can run or load, else as
 * a fenced block of plain text.
 * @example safeMarkdown('Product <img src=x onerror=alert(1)>') // "```text\nProduct <img src=x onerror=alert(1)>\n```"
 */
export function safeMarkdown(md: string, registry: SecretRegistry = secrets): string {
  return inertMarkdown(redactString(md, registry));
}

/** A sink that can also show the checkout link unmasked (the only unredacted output). */
export interface GuardedSink extends Sink {
  /** `[label](url)` with the URL as is: refused (shown as text) unless it is http(s). */
  link(label: string, url: string, after?: string): void;
}

/**
 * Wraps a tslab display: Markdown and text through `safeMarkdown`; HTML and SVG from the runbook are
 * shown as escaped text (the runbook shows Markdown and PNG only); PNG as is.
 */
export function guardSink(inner: Sink, registry: SecretRegistry = secrets): GuardedSink {
  return {
    markdown: (s) => inner.markdown(safeMarkdown(s, registry)),
    text: (s) => inner.text(redactString(s, registry)),
    html: (s) => inner.text(redactString(s, registry)),
    svg: (s) => inner.text(redactString(s, registry)),
    png: (b) => inner.png(b),
    link: (label, url, after = "") => {
      let ok = false;
      try {
        ok = ["https:", "http:"].includes(new URL(url).protocol);
      } catch {
        ok = false;
      }
      const tail = safeMarkdown(after, registry);
      if (!ok) {
        inner.markdown(
          `${safeMarkdown(label, registry)} (the checkout link is not a web address and is not shown)${tail}`,
        );
        return;
      }
      // Parentheses, spaces and angle brackets would end the Markdown link early: percent-encode them.
      const href = url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
      inner.markdown(`[${safeMarkdown(label, registry).replace(/[[\]]/g, "\\$&")}](${href})${tail}`);
    },
  };
}

/** A line that is one of the report's own markers: `<!-- session:<id> -->`, `<!-- /notes:<id> -->`, … */
const MARKER_LINE = /^<!-- (\/?(?:session|sessions|notes)(?::[\w.:-]+)?) -->$/gm;

/**
 * The report's markers in a form every Markdown renderer hides and that needs no raw HTML: a link
 * reference definition, `[//]: # (session:<id>)`. As HTML comments they went through the escaper
 * (raw HTML is shown literally) and stood as text in JupyterLab and the HTML export. Only whole
 * lines in the marker shape change: a comment from anywhere else is still shown, never hidden.
 * @example hiddenMarkers("<!-- session:x -->\n### Session") // "\n[//]: # (session:x)\n### Session"
 */
export function hiddenMarkers(md: string): string {
  // A blank line first: a definition cannot interrupt a paragraph (the comment could).
  return md.replace(MARKER_LINE, "\n[//]: # ($1)");
}

/** Which cell run an output belongs to: set by the cell API as each cell starts (lib/notebook/ui.ts). */
export interface CellRun {
  copy: KernelCopy;
  cell: string;
  call: string;
}

/**
 * The kernel's own copy (issue 22 item 6): wraps the inner display (tslab's), so that what is
 * recorded in outputs.jsonl is exactly what is shown, after `guardSink` redacted and escaped it.
 * A plain display belongs to the cell running when it shows something; an updatable one
 * (`display`) to the cell that created it, whose later updates replace it.
 */
export function recordSink(inner: Sink, run: CellRun, display: string | null = null): Sink {
  const at = display ? { cell: run.cell, call: run.call } : null;
  const rec = (kind: OutputKind, data: string) => {
    const to = at ?? run;
    run.copy.record(to.cell, to.call, display, kind, data);
  };
  return {
    markdown: (s) => {
      inner.markdown(s);
      rec("markdown", s);
    },
    text: (s) => {
      inner.text(s);
      rec("text", s);
    },
    html: (s) => {
      inner.html(s);
      rec("text", s);
    },
    svg: (s) => {
      inner.svg(s);
      rec("text", s);
    },
    png: (b) => {
      inner.png(b);
      rec("png", Buffer.from(b).toString("base64"));
    },
  };
}
