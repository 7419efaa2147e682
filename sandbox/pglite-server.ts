import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

// PGlite is one Postgres session. pglite-socket queues each wire message from every
// connection into it, and only keeps one connection "sticky" while a transaction is open.
// Between a Parse and its Sync (the extended-query protocol pg uses for every parameterised
// query) another connection's Parse can slip in and replace the unnamed statement, so a
// client gets someone else's rows. We make the queue also sticky until the connection's
// Sync (or simple Query) has run. Verified against pglite-socket 0.2.17 (pinned).

interface QueuedQuery {
  handlerId: number;
  message: Uint8Array;
  resolve: (n: number) => void;
  reject: (e: Error) => void;
  onData: (d: Uint8Array) => void;
}
interface QueueInternals {
  queue: QueuedQuery[];
  processing: boolean;
  db: PGlite;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** A message that ends a unit of work on the wire: after it another connection may go. */
function endsUnit(msg: Uint8Array): boolean {
  const t = msg[0];
  // Startup/SSL messages start with a length (first byte 0 for any sane length).
  return t === SYNC || t === QUERY || t === TERMINATE || t === 0;
}

function patchQueue(server: PGLiteSocketServer): void {
  const q = (server as unknown as { queryQueue: QueueInternals }).queryQueue;
  if (!q || !Array.isArray(q.queue) || typeof q.processQueue !== "function") {
    throw new Error("pglite-socket internals changed: cannot install the wire-message queue fix");
  }
  let midUnit = false;
  q.processQueue = async function processQueue(this: QueueInternals): Promise<void> {
    if (this.processing || this.queue.length === 0) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        let query: QueuedQuery | undefined;
        if ((midUnit || this.db.isInTransaction()) && this.lastHandlerId) {
          const i = this.queue.findIndex((x) => x.handlerId === this.lastHandlerId);
          if (i === -1) break; // wait for the owner's next message
          query = this.queue.splice(i, 1)[0];
        } else {
          query = this.queue.shift();
        }
        if (!query) break;
        const current = query;
        let size = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(current.message, {
              onRawData: (data: Uint8Array) => {
                size += data.length;
                current.onData(data);
              },
            }),
          );
        } catch (err) {
          midUnit = false;
          current.reject(err as Error);
          continue;
        }
        this.lastHandlerId = current.handlerId;
        midUnit = !endsUnit(current.message);
        current.resolve(size);
      }
    } finally {
      this.processing = false;
    }
  };
  const clear = q.clearTransactionIfNeeded.bind(q);
  q.clearTransactionIfNeeded = async function (handlerId: number): Promise<void> {
    // A connection that dies mid-unit must not block everyone else.
    if (midUnit && this.lastHandlerId === handlerId) {
      midUnit = false;
      if (!this.db.isInTransaction()) {
        this.lastHandlerId = null;
        await this.processQueue();
        return;
      }
    }
    await clear(handlerId);
  };
}

export interface PgliteHandle {
  port: number;
  stop(): Promise<void>;
}

export async function startPglite(host: string, port: number): Promise<PgliteHandle> {
  const db = new PGlite();
  await db.waitReady;
  const server = new PGLiteSocketServer({ db, host, port, maxConnections: 16 });
  patchQueue(server);
  await server.start();
  const conn = server.getServerConn();
  const actual = Number(conn.slice(conn.lastIndexOf(":") + 1));
  return {
    port: actual,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
