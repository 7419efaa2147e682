import * as fs from "node:fs";
import * as path from "node:path";
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
  /** Whether the cluster came from the `prepared` dump startPglite was given. */
  prepared: boolean;
  /** Keeps the cluster as it is now in `file` (a checkpoint, then a dump) for later starts; false when it could not. */
  keep(file: string): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Where a PGlite data directory is kept, one per PGlite version and `kind`: "initdb" for a freshly
 * initialised cluster (what initdb writes depends on nothing else: no options are passed), or a kind
 * that names what else is in it (sandbox/db.ts: the migrations, by their hash). Under
 * node_modules/.cache, so npm ci starts it afresh; null without a node_modules beside the sandbox.
 */
export function pgliteTemplateFile(kind = "initdb"): string | null {
  try {
    const root = path.join(__dirname, "..", "node_modules");
    const pkg = path.join(root, "@electric-sql", "pglite", "package.json");
    const { version } = JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string };
    return path.join(root, ".cache", "payment-e2e", `pglite-${version}-${kind}.tar`);
  } catch {
    return null;
  }
}

/** The cluster dumped in `file`, or null when there is none or it cannot be loaded. */
async function loadDump(file: string): Promise<PGlite | null> {
  if (!fs.existsSync(file)) return null;
  try {
    return await PGlite.create({ loadDataDir: new Blob([fs.readFileSync(file)]) });
  } catch {
    return null; // not a dump this PGlite can load: the caller starts otherwise, and the dump is written again
  }
}

/** Writes `db`'s data directory to `file`, whole (aside, then renamed); false on a read-only or full disk. */
async function keepDump(db: PGlite, file: string): Promise<boolean> {
  const aside = `${file}.${process.pid}.tmp`;
  try {
    const dump = await db.dumpDataDir("none");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(aside, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(aside, file);
    return true;
  } catch {
    fs.rmSync(aside, { force: true });
    return false;
  }
}

/**
 * A fresh, empty cluster. initdb is most of a sandbox start's CPU (about half of its 3 s, and npm test
 * starts some 35), so the first start keeps a dump of the data directory initdb wrote in `template`
 * and later starts load it: the same empty cluster, before any migration, in a second of CPU less.
 * The dump appears whole (written aside, then renamed); one that cannot be loaded is replaced by a
 * fresh initdb's. `template` null: initdb every time.
 */
export async function freshPglite(template: string | null = pgliteTemplateFile()): Promise<PGlite> {
  const loaded = template ? await loadDump(template) : null;
  if (loaded) return loaded;
  const db = await PGlite.create();
  if (template) await keepDump(db, template); // when it cannot be written, the next start runs initdb too
  return db;
}

/**
 * PGlite behind a Postgres wire socket on host:port. `prepared`: a dump kept earlier with `keep`
 * (sandbox/db.ts keeps the migrated cluster), loaded when it is there and loads; else a fresh cluster.
 */
export async function startPglite(host: string, port: number, prepared: string | null = null): Promise<PgliteHandle> {
  const loaded = prepared ? await loadDump(prepared) : null;
  const db = loaded ?? (await freshPglite());
  const server = new PGLiteSocketServer({ db, host, port, maxConnections: 16 });
  patchQueue(server);
  await server.start();
  const conn = server.getServerConn();
  const actual = Number(conn.slice(conn.lastIndexOf(":") + 1));
  return {
    port: actual,
    prepared: loaded !== null,
    async keep(file: string) {
      // Written pages on disk, not only in the WAL: the next start then has no recovery to replay.
      await db.exec("CHECKPOINT");
      return keepDump(db, file);
    },
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
