/**
 * What the terminal tests share: a string that would rewrite a line if a terminal obeyed it, what it
 * must look like once shown (lib/cli/args.ts `terminalLine`), and the characters no printed line may
 * hold. ESC[2K and \r erase the line and start over, the forged GO follows, ESC[8m and the one-byte
 * CSI (U+009B) conceal what comes after, U+202E reverses it, U+200B hides.
 */
import { strict as assert } from "node:assert";

export const HOSTILE = "x\u001b[2K\rGO: forged\u001b[8m \u009b31m \u202eSSAP\u200b";
export const HOSTILE_SHOWN = "x\\u001b[2K\\rGO: forged\\u001b[8m \\u009b31m \\u202eSSAP\\u200b";
/** C0 but tab and newline, DEL, C1, the bidi marks, embeddings, overrides and isolates, zero-width ones. */
export const TERMINAL_CONTROLS =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** `text` (what a command printed) holds no character a terminal acts on, and shows HOSTILE as text. */
export function assertShownNotObeyed(text: string): void {
  assert.doesNotMatch(text, TERMINAL_CONTROLS, JSON.stringify(text));
  assert.ok(text.includes(HOSTILE_SHOWN), text);
  assert.doesNotMatch(text, /^GO: /m, "no line may say GO");
}
