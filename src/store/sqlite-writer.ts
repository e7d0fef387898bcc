// The embedded store's writer thread. It owns the only write connection: batches that arrive
// while one is being written are committed together (group commit), and parsing on the main
// thread overlaps with writing here, so ingest uses two cores instead of one.
import type { Database, Statement } from "bun:sqlite";
import { GcPacer } from "../memory.ts";
import { openDatabase, type PackedBatch, type WriterReply, type WriterRequest } from "./sqlite-schema.ts";

declare const self: Worker;

const CACHE_LIMIT = 50_000;

let db: Database | undefined;
let insertLine: Statement;
let insertLines: Statement;
/** Rows per multi-row INSERT: fewer statement steps and calls into SQLite (about 20% faster). */
const ROWS_PER_INSERT = 50;
let selectContainer: Statement;
let insertContainer: Statement;
let selectSource: Statement;
let insertSource: Statement;
const containerIds = new Map<string, number>();
const sourceIds = new Map<string, number>();
let pending: { id: number; batch: PackedBatch }[] = [];
// This thread's heap fills with the text of the lines it writes: collect it as the main thread does.
const gc = new GcPacer(16 * 1024 * 1024);
let scheduled = false;

function reply(message: WriterReply): void {
  self.postMessage(message);
}

function open(path: string): void {
  db = openDatabase(path);
  const insert = "INSERT OR IGNORE INTO lines (container_id, ts, id, stream, log, source_id) VALUES ";
  insertLine = db.prepare(`${insert}(?, ?, ?, ?, ?, ?)`);
  insertLines = db.prepare(insert + Array(ROWS_PER_INSERT).fill("(?, ?, ?, ?, ?, ?)").join(", "));
  selectContainer = db.prepare("SELECT id FROM containers WHERE namespace = ? AND pod = ? AND container = ?");
  insertContainer = db.prepare("INSERT INTO containers (namespace, pod, container) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
  selectSource = db.prepare("SELECT id FROM sources WHERE pod_id = ? AND docker_id = ? AND host = ? AND labels = ?");
  insertSource = db.prepare("INSERT INTO sources (pod_id, docker_id, host, labels) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
}

/** The id of a metadata row, from the cache or else inserted (if new) and selected. */
function cachedId(cache: Map<string, number>, insert: Statement, select: Statement, values: string[]): number {
  const key = values.join("\u0000");
  let id = cache.get(key);
  if (id === undefined) {
    insert.run(...values);
    id = (select.get(...values) as { id: number }).id;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, id);
  }
  return id;
}

function containerId(r: PackedBatch["runs"][number]): number {
  return cachedId(containerIds, insertContainer, selectContainer, [r.namespace, r.pod, r.container]);
}

function sourceId(r: PackedBatch["runs"][number]): number {
  return cachedId(sourceIds, insertSource, selectSource, [r.podId, r.dockerId, r.host, r.labels]);
}

function insert(b: PackedBatch): void {
  const params = new Array<string | number | bigint>(ROWS_PER_INSERT * 6);
  for (let r = 0; r < b.runs.length; r++) {
    const run = b.runs[r]!;
    const first = b.runStarts[r]!;
    const end = r + 1 < b.runs.length ? b.runStarts[r + 1]! : b.n;
    const cid = containerId(run);
    const sid = sourceId(run);
    let start = first === 0 ? 0 : b.ends[first - 1]!;
    let i = first;
    // Rows keep their order within a statement, so rowids (arrival order) stay in batch order.
    for (; i + ROWS_PER_INSERT <= end; i += ROWS_PER_INSERT) {
      for (let k = 0, p = 0; k < ROWS_PER_INSERT; k++) {
        const row = i + k;
        const stop = b.ends[row]!;
        params[p++] = cid;
        params[p++] = b.ts[row]!;
        params[p++] = b.ids[row]!;
        params[p++] = b.streamTable[b.streams[row]!]!;
        params[p++] = b.logs.substring(start, stop);
        params[p++] = sid;
        start = stop;
      }
      insertLines.run(...params);
    }
    for (; i < end; i++) {
      const stop = b.ends[i]!;
      insertLine.run(cid, b.ts[i]!, b.ids[i]!, b.streamTable[b.streams[i]!]!, b.logs.substring(start, stop), sid);
      start = stop;
    }
  }
}

/** Writes every batch that is waiting, in one transaction. */
function flush(): void {
  scheduled = false;
  const batches = pending;
  pending = [];
  if (batches.length === 0) return;
  try {
    db!.transaction(() => {
      for (const { batch } of batches) insert(batch);
    })();
    for (const { id, batch } of batches) {
      reply({ id });
      gc.note(batch.logs.length);
    }
  } catch (error) {
    // Rolled back: nothing of these batches is stored, so the caller can safely retry.
    containerIds.clear();
    sourceIds.clear();
    for (const { id } of batches) reply({ id, error: (error as Error).message });
  }
}

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case "open":
        open(m.path);
        return;
      case "write":
        pending.push({ id: m.id, batch: m.batch });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
        return;
      case "expire": {
        flush();
        const ids = db!.query("SELECT id FROM containers").values() as [number][];
        const del = db!.query("DELETE FROM lines WHERE container_id = ? AND ts < ?");
        let deleted = 0;
        for (const [id] of ids) deleted += del.run(id, m.beforeNs).changes;
        reply({ id: m.id, deleted });
        return;
      }
      case "close":
        flush();
        try {
          db?.run("PRAGMA optimize");
        } finally {
          db?.close();
          db = undefined;
        }
        reply({ id: m.id });
        return;
    }
  } catch (error) {
    if (m.type !== "open") reply({ id: m.id, error: (error as Error).message });
    else reply({ id: 0, error: `cannot open ${m.path}: ${(error as Error).message}` });
  }
};
