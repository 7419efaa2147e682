/** A tslab stand-in whose displays are kept as text, for tests that open the notebook's cells outside a kernel. */
import type { Sink, TslabLike } from "../../lib/notebook";

export function recorder(): { tslab: TslabLike; text: () => string } {
  const out: string[] = [];
  const sink: Sink = {
    markdown: (s) => out.push(s),
    html: (s) => out.push(s),
    svg: (s) => out.push(s),
    text: (s) => out.push(s),
    png: () => out.push("[png]"),
  };
  return { tslab: { display: sink, newDisplay: () => sink }, text: () => out.join("\n") };
}
