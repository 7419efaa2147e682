/**
 * Chromium driven over its DevTools protocol pipe (`--remote-debugging-pipe`: JSON messages ended by
 * a NUL byte, read by the browser on fd 3 and written on fd 4), for the headless payer (./payer.ts).
 * It needs a handful of commands; playwright-core, which speaks the same protocol over the same pipe,
 * cost the kernel about 0.25 s of CPU to import, on the session cell's critical path (bench P1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { StepCheckError } from "../errors";

/** A protocol error, a browser that went away, or a wait that ran out: the payer could not pay. */
const payerError = (message: string) => new StepCheckError("E2E_PAYER", message);

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
}

/** One browser process and its protocol pipe. */
export class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = "";
  private gone: Error | null = null;
  /** Settles when the browser process has exited. */
  readonly exited: Promise<void>;

  private constructor(
    readonly proc: ChildProcess,
    private readonly out: Writable,
    inp: Readable,
  ) {
    inp.setEncoding("utf8");
    inp.on("data", (chunk: string) => this.receive(chunk));
    inp.on("error", () => undefined);
    out.on("error", () => undefined);
    this.exited = new Promise((resolve) => {
      proc.once("exit", () => resolve());
      proc.once("error", (err) => {
        this.fail(payerError(`the browser could not start: ${err.message}`));
        resolve();
      });
    });
    void this.exited.then(() => this.fail(payerError("the browser exited")));
  }

  /** Starts the browser with the protocol on its pipe; resolves once it answers. */
  static async launch(executable: string, args: string[], timeoutMs: number): Promise<Cdp> {
    const proc = spawn(executable, [...args, "--remote-debugging-pipe"], {
      stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"],
      // Its own process group: Debian's launchers are shell scripts whose browser is a child.
      detached: process.platform !== "win32",
    });
    const cdp = new Cdp(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable);
    try {
      await cdp.send("Browser.getVersion", {}, undefined, timeoutMs);
      return cdp;
    } catch (err) {
      cdp.kill();
      throw err;
    }
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf("\0");
    while (end >= 0) {
      const text = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 1);
      end = this.buffered.indexOf("\0");
      // Answers only: events (the browser sends few unasked) are not listened to.
      let msg: { id?: number; result?: Record<string, unknown>; error?: { message?: string } };
      try {
        msg = JSON.parse(text);
      } catch {
        continue;
      }
      if (msg.id === undefined) continue;
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p?.reject(payerError(msg.error.message ?? "protocol error"));
      else p?.resolve(msg.result ?? {});
    }
  }

  private fail(err: Error): void {
    this.gone ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** One protocol command (to a page when `sessionId` names its session); rejects after `timeoutMs`. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 20 * 1000,
  ): Promise<Record<string, unknown>> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(payerError(`${method}: no answer from the browser in ${timeoutMs} ms`));
      }, timeoutMs);
      const done =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          f(v);
        };
      this.pending.set(id, { resolve: done(resolve), reject: done(reject) });
      this.out.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  /** A script's value in the page (`returnByValue`); a script that throws rejects. */
  async evaluate<T>(sessionId: string, expression: string): Promise<T> {
    const r = (await this.send("Runtime.evaluate", { expression, returnByValue: true }, sessionId)) as {
      result?: { value?: T };
      exceptionDetails?: { text?: string };
    };
    if (r.exceptionDetails) throw payerError(`script failed in the page: ${r.exceptionDetails.text ?? "?"}`);
    return r.result?.value as T;
  }

  /** Ends the browser's process group at once. */
  kill(): void {
    try {
      if (this.proc.pid && process.platform !== "win32") process.kill(-this.proc.pid, "SIGKILL");
      else this.proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Asks the browser to close, and ends its process if it has not gone within `timeoutMs`. */
  async close(timeoutMs = 5 * 1000): Promise<void> {
    if (!this.gone) await this.send("Browser.close", {}, undefined, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
