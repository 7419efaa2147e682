/**
 * Appending to an evidence log whole or not at all. A write on a nearly full disk can be short
 * (part of the line written, no error), and the next write then fails: the log would end in a torn
 * line. Here the rest is written in a loop, and on an error the file is cut back to its size before
 * the append, so the log still ends on a complete line; the error is thrown, naming the file.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Writes all of `text` at the end of `fd` (opened for appending) or leaves the file as it was.
 * `before` is the file's size now, when the caller already knows it (the trace has just checked
 * it): it saves an fstat on the per-call path (issue 26); otherwise it is read from `fd`.
 */
export function appendWhole(fd: number, text: string, file: string, before = fs.fstatSync(fd).size): void {
  const buf = Buffer.from(text, "utf8");
  let written = 0;
  try {
    while (written < buf.length) written += fs.writeSync(fd, buf, written, buf.length - written);
  } catch (err) {
    let undone = "the partial line was removed";
    try {
      fs.ftruncateSync(fd, before);
    } catch {
      undone = "the partial line could not be removed: the next open sets it aside";
    }
    if (err instanceof Error) err.message = `${err.message} (${path.basename(file)}: ${undone})`;
    throw err;
  }
}
