/**
 * A small, strict, mustache-like template engine for the report (issue 6 §1): templates live in
 * `templates/`, lib code builds a view object and fills them; no string concatenation in cells.
 *
 * Supported tags:
 * - `{{name}}` / `{{a.b}}` / `{{.}}`: a value (string, number or boolean; null renders empty) shown
 *   as text: `inertText`, since values carry backend and operator text into files an auditor opens;
 *   nothing in it is Markdown or HTML. A value that starts a line's content (`- {{.}}`) keeps its
 *   lines apart (hard breaks) and cannot open a block; elsewhere line breaks become spaces;
 * - `{{{name}}}`: a value written as is, only for Markdown the runbook composed itself, whose
 *   untrusted parts already went through `inertText` / `inertCode` / `cell()` (rows, markers);
 * - `{{#name}}…{{/name}}`: a section, repeated per item of an array, rendered once for any other
 *   truthy value (pushed as context, so `{{.}}` is the value; `true` pushes nothing), skipped when
 *   falsy or empty;
 * - `{{^name}}…{{/name}}`: rendered only when `name` is falsy or an empty array;
 * - `{{! comment }}`: dropped.
 * A section, close or comment tag alone on its line removes the whole line (mustache "standalone"
 * rule), so templates stay readable Markdown. Table cells are built with display.cell() and
 * written with `{{{…}}}`. Unknown names throw: a typo must not render empty.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { TemplateError } from "./evidence";
import { inRepo } from "../paths";
import { inertText } from "./inert";

type Node =
  | { t: "text"; s: string }
  | { t: "var"; name: string; line: number; raw: boolean; startsBlock: boolean }
  | { t: "section"; name: string; inverted: boolean; children: Node[]; line: number };

type Section = Extract<Node, { t: "section" }>;

const TAG = /\{\{(\{?)\s*([#^/!]?)\s*([\s\S]*?)\s*\}\}(\}?)/g;
const NAME = /^(\.|[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*)$/;

const BLOCK_PREFIX = /^[ \t]*(?:(?:[-*+>]|\d{1,9}[.)])[ \t]+)*$/;

const lineOf = (src: string, at: number) => src.slice(0, at).split("\n").length;

/** Parses a template into a tree; throws TemplateError on an unbalanced or malformed tag. */
export function parseTemplate(src: string, name = "template"): Node[] {
  const root: Node[] = [];
  const stack: Array<{ node: Section; parent: Node[] }> = [];
  let out = root;
  let pos = 0;
  const re = new RegExp(TAG.source, "g");
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const [whole, open3, sigil, tagName, close3] = m;
    const line = lineOf(src, m.index);
    const raw = open3 === "{";
    if (raw !== (close3 === "}") || (raw && sigil))
      throw new TemplateError(name, line, `malformed tag ${whole}: a raw value is {{{name}}}`);
    let start = m.index;
    let end = m.index + whole.length;
    if (sigil) {
      // Standalone: only whitespace around the tag on its line → drop the line.
      const lineStart = src.lastIndexOf("\n", start - 1) + 1;
      const nl = src.indexOf("\n", end);
      const lineEnd = nl === -1 ? src.length : nl + 1;
      if (
        lineStart >= pos &&
        /^[ \t]*$/.test(src.slice(lineStart, start)) &&
        /^[ \t]*\r?\n?$/.test(src.slice(end, lineEnd))
      ) {
        start = lineStart;
        end = lineEnd;
      }
    }
    if (start > pos) out.push({ t: "text", s: src.slice(pos, start) });
    pos = end;
    re.lastIndex = end;
    if (sigil === "!") continue;
    if (!NAME.test(tagName)) throw new TemplateError(name, line, `invalid tag {{${sigil}${tagName}}}`);
    if (sigil === "#" || sigil === "^") {
      const node: Section = { t: "section", name: tagName, inverted: sigil === "^", children: [], line };
      out.push(node);
      stack.push({ node, parent: out });
      out = node.children;
    } else if (sigil === "/") {
      const top = stack.pop();
      if (!top) throw new TemplateError(name, line, `{{/${tagName}}} closes nothing`);
      if (top.node.name !== tagName)
        throw new TemplateError(
          name,
          line,
          `{{/${tagName}}} closes {{${top.node.inverted ? "^" : "#"}${top.node.name}}} opened on line ${top.node.line}`,
        );
      out = top.parent;
    } else {
      // A value that opens a line's content (alone, after `- ` or `> `) is guarded against opening a block.
      const before = src.slice(src.lastIndexOf("\n", m.index - 1) + 1, m.index);
      out.push({ t: "var", name: tagName, line, raw, startsBlock: BLOCK_PREFIX.test(before) });
    }
  }
  if (pos < src.length) out.push({ t: "text", s: src.slice(pos) });
  const open = stack.pop();
  if (open)
    throw new TemplateError(
      name,
      open.node.line,
      `{{${open.node.inverted ? "^" : "#"}${open.node.name}}} is never closed`,
    );
  return root;
}

function lookup(ctx: unknown[], name: string, tpl: string, line: number): unknown {
  if (name === ".") return ctx[ctx.length - 1];
  const [head, ...rest] = name.split(".");
  for (let i = ctx.length - 1; i >= 0; i--) {
    const c = ctx[i];
    if (c !== null && typeof c === "object" && Object.hasOwn(c, head)) {
      let v: unknown = (c as Record<string, unknown>)[head];
      for (const k of rest) {
        if (v === null || typeof v !== "object" || !Object.hasOwn(v, k)) {
          throw new TemplateError(tpl, line, `unknown variable {{${name}}} (no \`${k}\`)`);
        }
        v = (v as Record<string, unknown>)[k];
      }
      return v;
    }
  }
  throw new TemplateError(tpl, line, `unknown variable {{${name}}}`);
}

const falsy = (v: unknown) => !v || (Array.isArray(v) && v.length === 0);

function renderNodes(nodes: Node[], ctx: unknown[], tpl: string): string {
  let s = "";
  for (const n of nodes) {
    if (n.t === "text") s += n.s;
    else if (n.t === "var") {
      const v = lookup(ctx, n.name, tpl, n.line);
      if (v === null || v === undefined) continue;
      if (typeof v === "object" || typeof v === "function")
        throw new TemplateError(tpl, n.line, `{{${n.name}}} is not a scalar (use a section)`);
      s += n.raw ? String(v) : n.startsBlock ? inertText(String(v), { lines: true }) : inertText(String(v));
    } else {
      const v = lookup(ctx, n.name, tpl, n.line);
      if (n.inverted) {
        if (falsy(v)) s += renderNodes(n.children, ctx, tpl);
      } else if (Array.isArray(v)) {
        for (const item of v) s += renderNodes(n.children, [...ctx, item], tpl);
      } else if (!falsy(v)) {
        s += renderNodes(n.children, v === true ? ctx : [...ctx, v], tpl);
      }
    }
  }
  return s;
}

/**
 * Fills a template string with a view.
 * @example renderTemplate("{{#rows}}- {{name}}\n{{/rows}}", { rows: [{ name: "a" }] }) === "- a\n"
 */
export function renderTemplate(src: string, view: object, name = "template"): string {
  return renderNodes(parseTemplate(src, name), [view], name);
}

/** The repo's `templates/` folder: next to lib/ when run from source, else under the working directory. */
export function templatesDir(): string {
  const nextToLib = inRepo("templates");
  return fs.existsSync(nextToLib) ? nextToLib : path.resolve(process.cwd(), "templates");
}

/** Reads `templates/<file>`; a missing file is a TemplateError naming it. */
export function loadTemplate(file: string): string {
  const p = path.join(templatesDir(), file);
  try {
    return fs.readFileSync(p, "utf8");
  } catch (err) {
    throw new TemplateError(`templates/${file}`, 0, "cannot read the template; restore it from git", { cause: err });
  }
}

/** Reads and fills `templates/<file>`. */
export function fillTemplate(file: string, view: object): string {
  return renderTemplate(loadTemplate(file), view, `templates/${file}`);
}
