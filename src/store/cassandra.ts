// The Cassandra store: schema, prepared statements, the write and read paths.
//
// Data model (see README, "The Cassandra store"):
//   log_chunks  PRIMARY KEY ((namespace, pod_name, container_name, window), first_ts, chunk)
//               the lines, compressed: a chunk (chunk.ts) holds lines of one container in one
//               5-minute window (window = its start, epoch ns, as every time of the table);
//               chunk = a hash of its lines' times and ids, so that a resent batch writes the
//               same rows again (an upsert); born = when its lines were first stored (where
//               chunks overlap, a line's copy born first is read). A write makes a chunk per
//               container and window of its batch, one insert each; compaction
//               (cassandra-chunks.ts) merges a window's small chunks into few large ones in the
//               background.
//   log_windows PRIMARY KEY ((namespace, pod_name, container_name, day), window)
//               which windows of a day hold chunks;
//   log_days    PRIMARY KEY ((namespace, pod_name, container_name), day)
//               which days hold lines. A query reads one log_days partition, the log_windows
//               partitions of days with lines, then only non-empty windows: a quiet container's
//               30-day range reads a handful of partitions.
//   log_sources PRIMARY KEY ((namespace, pod_name, container_name), source)
//               pod id, container id, host and labels, once per distinct value (chunks hold
//               their lines' sources themselves; this table serves the lines from before chunks).
//   log_counts  PRIMARY KEY ((namespace, pod_name, container_name, day), minute, stream, level, batch_key)
//               lines and bytes per minute, stream and level, one row per batch that wrote some:
//               batch_key derives from the lines the row counts, so a resent batch rewrites its rows
//               (no counters: they are not idempotent); reads sum over batch keys.
//   log_streams, log_stream_days: the streams of a tenant by day (streams()).
// From before chunks (kept, read while they hold rows, never written; their rows age out by TTL):
//   log_lines   PRIMARY KEY ((namespace, pod_name, container_name, bucket), ts, id)
//               one row per line; bucket = the 30-second window of ts (epoch ms);
//   log_buckets PRIMARY KEY ((namespace, pod_name, container_name, day), bucket)
//               which buckets of a day hold lines.
import cassandra from "cassandra-driver";
import { readFileSync } from "node:fs";
import {
  chunkRefs,
  ChunkTable,
  Compactor,
  encodeWithin,
  mergeOrdered,
  type CompactionStats,
  type IndexedLine,
} from "./cassandra-chunks.ts";
import { retentionOf, type CassandraStoreOptions, type ConsistencyName } from "./cassandra-options.ts";
import { readChunks } from "./chunk-merge.ts";
import { compareLines, cutChunks, INGEST_LEVEL, windowOf, WINDOW_NS, type ChunkSource } from "./chunk.ts";
import { contentKey, CountMerger, kindOf, MinuteTally, utf8Length } from "./counts.ts";
import { log } from "../log.ts";
import { NS_PER_SECOND, nowNs } from "../time.ts";
import {
  compositeKey,
  containerKey,
  lineIds,
  parseStringMap,
  sameContainer,
  sameContainerAndSource,
  sequenceNumbers,
} from "./lines.ts";
import {
  cutPages,
  listingStartNs,
  PageSizer,
  remainingRange,
  RunOrderer,
  streamsWithinRetention,
  withinRetention,
} from "./reading.ts";
import type { RetentionPolicy } from "./retention.ts";
import { Semaphore } from "./semaphore.ts";
import {
  DEFAULT_PAGE_BYTES,
  ROW_OVERHEAD_BYTES,
  DEFAULT_TENANT,
  NS_PER_MINUTE,
  StoreBusyError,
  StoreUnavailableError,
  type LogEntry,
  type LogStore,
  type MinuteCount,
  type OrderedRow,
  type StoreHealth,
  type StreamInfo,
  type StreamRead,
  type StreamRef,
  type StoreRejection,
  type WriteResult,
} from "./store.ts";

const { Client, auth, policies, types, errors } = cassandra;

export type { CassandraStoreOptions };

/**
 * The namespace as the row tables (lines, sources, buckets, days) key it: the tenant goes in front
 * of it, between two U+0001 characters, so that it leads every key of those tables (which took
 * no tenant before); lines of the default tenant keep the bare namespace, so that data written
 * before tenancy stays as it is. A namespace may not start with U+0001 (ingest refuses control
 * characters in names; a store refuses the rest), so no namespace can pose as another tenant's.
 */
function storedNamespace(s: { tenant: string; namespace: string }): string {
  return s.tenant === DEFAULT_TENANT ? s.namespace : `\u0001${s.tenant}\u0001${s.namespace}`;
}

function unstorableNamespace(e: LogEntry): string | undefined {
  return e.namespace.startsWith("\u0001") ? "a namespace may not start with the control character U+0001" : undefined;
}
/** Write timestamp base of log_streams.first_ts (µs): the earliest first time wins. */
const STREAM_FIRST_BASE = 1n << 60n;
const NS_PER_DAY = 86_400_000_000_000n;

/** Width of a partition of log_lines (from before chunks): 30 seconds. */
export const BUCKET_SECONDS = 30;
const BUCKET_NS = BigInt(BUCKET_SECONDS) * NS_PER_SECOND;
const DAY_SECONDS = 86_400;
/** Upper bound of one unlogged single-partition batch of count rows. */
const BATCH_ROWS = 50;
const INDEX_CACHE_LIMIT = 100_000;
/** Partitions of log_lines a limited read may read ahead at most (when they hold a line or two each). */
const MAX_LIMITED_READ_AHEAD = 16;
/** Ranges of fewer buckets than this are read without consulting the index (4 minutes). */
const DIRECT_BUCKETS = 8n;
/** Ranges over at most this many windows are read without consulting the index (10 to 15 minutes). */
const DIRECT_WINDOWS = 3n;
/** Times a read starts again from its last row when chunks it listed were compacted away meanwhile. */
/** Compaction defaults: a window is merged this long after its last write, or at this many chunks. */
const COMPACT_AFTER_MS = 5_000;
/**
 * At start, how far back in log time from each stream's last line windows are looked at: a
 * window left uncompacted was written in the last seconds before a stop, mostly with lines of
 * the last minutes. 15 minutes: 4 windows a stream (a cluster of 10,000 streams, 40,000 listings).
 */
const RECOVER_LOOKBACK_NS = 900_000_000_000n;
const COMPACT_CHUNKS = 64;

/** Errors that mean "not now": the client should retry (503), never give up (400). */
const TRANSIENT_CODES = new Set<number>([
  types.responseErrorCodes.serverError,
  types.responseErrorCodes.protocolError,
  types.responseErrorCodes.badCredentials,
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.truncateError,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.readFailure,
  types.responseErrorCodes.functionFailure,
  types.responseErrorCodes.writeFailure,
  types.responseErrorCodes.unauthorized,
  types.responseErrorCodes.configError,
  types.responseErrorCodes.unprepared,
]);

/**
 * Whether a failed write may succeed later. Outages, timeouts, overload and the cluster's own
 * configuration (credentials, permissions) pass or get fixed: the batch is answered 503 and sent
 * again. What Cassandra refuses as invalid for this data (a value too large for a request, a value
 * of the wrong type) or the driver cannot even encode would fail forever: those lines are
 * rejected, so that a client that retries without limit is not stuck on them.
 */
export function isTransient(error: unknown): boolean {
  // A keyspace or table that is gone (a node that lost a schema change in a crash, a DROP) is
  // created again by the store (see repairSchema): until then the write may pass later.
  if (isSchemaMissing(error)) return true;
  if (error instanceof errors.NoHostAvailableError || error instanceof errors.OperationTimedOutError) return true;
  if (error instanceof errors.BusyConnectionError) return true;
  if (error instanceof errors.ResponseError) return TRANSIENT_CODES.has(error.code);
  // Values the driver cannot encode.
  if (error instanceof errors.ArgumentError || error instanceof errors.NotSupportedError) return false;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return false;
  // The driver reports a shut-down or not-yet-connected client as a plain DriverError; anything
  // unforeseen is taken as passing rather than lose lines to it.
  return true;
}

/**
 * Whether Cassandra refused a request because the store's keyspace or one of its tables does not
 * exist (or a prepared statement of it is no longer known, after its table was dropped).
 */
export function isSchemaMissing(error: unknown): boolean {
  if (!(error instanceof errors.ResponseError)) return false;
  if (error.code === types.responseErrorCodes.unprepared) return true;
  if (error.code !== types.responseErrorCodes.invalid && error.code !== types.responseErrorCodes.configError) return false;
  return /unconfigured table|keyspace \S+ does not exist|keyspace '?\S+'? doesn't exist|does not exist/i.test(error.message);
}

interface Statements {
  insertWindow: string;
  insertWindowWithTtl: string;
  selectWindows: string;
  selectWindowsDesc: string;
  insertDay: string;
  insertDayWithTtl: string;
  insertSource: string;
  insertSourceWithTtl: string;
  selectDays: string;
  selectDaysDesc: string;
  selectBuckets: string;
  selectBucketsDesc: string;
  selectLines: string;
  selectLinesDesc: string;
  updateStreamLast: string;
  updateStreamFirst: string;
  selectStreams: string;
  insertStreamDay: string;
  selectStreamDays: string;
  selectLinesWithSource: string;
  selectLinesWithSourceDesc: string;
  selectSources: string;
  insertCount: string;
  insertCountWithTtl: string;
  selectCounts: string;
}

export class CassandraStore implements LogStore {
  readonly kind = "cassandra";
  readonly countsDeduplicated = false;
  private readonly consistency: number;
  private readonly writeOptions: cassandra.QueryOptions;
  private readonly writes: Semaphore;
  private readonly reads = new Semaphore(32);
  /** Index rows (buckets and days) known to be written; bounded, cleared when full. */
  private readonly knownIndex = new Map<string, number>();
  /** First and last times known written to the stream index, per container and day. */
  private readonly knownStreams = new Map<string, { firstNs: bigint; lastNs: bigint }>();
  private readonly statements: Statements;
  /** The retention of each namespace: the TTL of its lines and index rows, the cutoff of reads. */
  private readonly retention: RetentionPolicy;
  private queued = 0;
  private inFlight = new Set<Promise<unknown>>();
  private closed = false;
  /** The schema being created again (see repairSchema), and when that last began. */
  private schemaRepair: Promise<void> | undefined;
  private schemaRepairAt = 0;
  /** One cheap read per table, for the health probe. */
  private readonly probes: string[];
  private readonly chunks: ChunkTable;
  private readonly compactor: Compactor;

  private constructor(
    private readonly client: cassandra.Client,
    private readonly options: CassandraStoreOptions,
    /**
     * Whether log_lines held a row when the store connected (a keyspace from before chunks):
     * reads then merge its rows with those of chunks, until a restart finds it empty.
     */
    private readonly legacy: boolean,
  ) {
    this.consistency = types.consistencies[toConsistencyKey(options.consistency)];
    this.writeOptions = { prepare: true, consistency: this.consistency, isIdempotent: true };
    this.writes = new Semaphore(options.writeConcurrency);
    this.retention = retentionOf(options);
    this.chunks = new ChunkTable(
      {
        read: (query, params, opts) => this.reads.run(() => this.execute(query, params, opts)),
        write: (query, params) => this.writes.run(() => this.client.execute(query, params, this.writeOptions)),
        batch: (statements) => this.writes.run(() => this.client.batch(statements, { ...this.writeOptions, logged: false })),
      },
      options.keyspace,
    );
    const statedTtl = this.retention.expires;
    this.compactor = new Compactor(this.chunks, {
      afterMs: options.compactAfterMs ?? COMPACT_AFTER_MS,
      chunks: options.compactChunks ?? COMPACT_CHUNKS,
      maxBytes: options.maxRequestBytes ?? MAX_REQUEST_BYTES,
      // As at ingest: from the chunk's last line, stated whenever some namespace may expire.
      ttlOf: (lastNs, seconds) => (statedTtl ? (seconds > 0 ? ttlFor(lastNs, nowNs(), seconds) : 0) : undefined),
      onError: (error, window) => {
        if (isSchemaMissing(error)) this.repairSchema(error);
        this.options.observer?.error("compaction", error);
        // The store's read errors come wrapped (execute); writes' as the driver threw them; what
        // is not Cassandra's (a window that would take too much memory) will not pass.
        const transient = error instanceof StoreUnavailableError || (error instanceof errors.DriverError && isTransient(error));
        // An outage fails every due window's compaction: that is no news at warn level.
        (transient ? log.debug : log.warn)("cassandra compaction failed", {
          window: String(window),
          error: (error as Error).message,
        });
        return transient;
      },
    });
    const ks = options.keyspace;
    const countColumns = "namespace, pod_name, container_name, day, minute, stream, level, batch_key, lines, bytes";
    const sourceColumns = "namespace, pod_name, container_name, source, pod_id, docker_id, host, labels";
    this.statements = {
      insertWindow: `INSERT INTO ${ks}.log_windows (namespace, pod_name, container_name, day, window) VALUES (?, ?, ?, ?, ?)`,
      insertWindowWithTtl: `INSERT INTO ${ks}.log_windows (namespace, pod_name, container_name, day, window) VALUES (?, ?, ?, ?, ?) USING TTL ?`,
      selectWindows: `SELECT window FROM ${ks}.log_windows WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day = ? AND window >= ? AND window <= ?`,
      selectWindowsDesc: "",
      insertSource: `INSERT INTO ${ks}.log_sources (${sourceColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      insertSourceWithTtl: `INSERT INTO ${ks}.log_sources (${sourceColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
      insertDay: `INSERT INTO ${ks}.log_days (namespace, pod_name, container_name, day) VALUES (?, ?, ?, ?)`,
      insertDayWithTtl: `INSERT INTO ${ks}.log_days (namespace, pod_name, container_name, day) VALUES (?, ?, ?, ?) USING TTL ?`,
      selectDays: `SELECT day FROM ${ks}.log_days WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day >= ? AND day <= ?`,
      selectBuckets: `SELECT bucket FROM ${ks}.log_buckets WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day = ? AND bucket >= ? AND bucket <= ?`,
      selectLines: `SELECT ts, id, seq, stream, log FROM ${ks}.log_lines WHERE namespace = ? AND pod_name = ? AND container_name = ? AND bucket = ? AND ts >= ? AND ts <= ?`,
      selectDaysDesc: "",
      selectBucketsDesc: "",
      selectLinesDesc: "",
      // The stream index keeps first and last times by write timestamp: the last time is written
      // at its own time (µs) and the first at STREAM_FIRST_BASE less its time, so that whatever
      // the order of batches and replicas, Cassandra keeps the latest last and the earliest first.
      updateStreamLast: `UPDATE ${ks}.log_streams USING TTL ? AND TIMESTAMP ? SET last_ts = ?, labels = ?, host = ? WHERE tenant = ? AND day = ? AND namespace = ? AND pod_name = ? AND container_name = ?`,
      updateStreamFirst: `UPDATE ${ks}.log_streams USING TTL ? AND TIMESTAMP ? SET first_ts = ? WHERE tenant = ? AND day = ? AND namespace = ? AND pod_name = ? AND container_name = ?`,
      selectStreams: `SELECT namespace, pod_name, container_name, first_ts, last_ts, labels, host FROM ${ks}.log_streams WHERE tenant = ? AND day = ?`,
      insertStreamDay: `INSERT INTO ${ks}.log_stream_days (tenant, year, day) VALUES (?, ?, ?) USING TTL ?`,
      selectStreamDays: `SELECT day FROM ${ks}.log_stream_days WHERE tenant = ? AND year = ? AND day >= ? AND day <= ?`,
      selectLinesWithSource: `SELECT ts, id, seq, stream, log, source, metadata FROM ${ks}.log_lines WHERE namespace = ? AND pod_name = ? AND container_name = ? AND bucket = ? AND ts >= ? AND ts <= ?`,
      selectLinesWithSourceDesc: "",
      selectSources: `SELECT source, pod_id, docker_id FROM ${ks}.log_sources WHERE namespace = ? AND pod_name = ? AND container_name = ?`,
      insertCount: `INSERT INTO ${ks}.log_counts (${countColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      insertCountWithTtl: `INSERT INTO ${ks}.log_counts (${countColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
      selectCounts: `SELECT minute, stream, level, lines, bytes FROM ${ks}.log_counts WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day = ? AND minute >= ? AND minute <= ?`,
    };
    // An empty partition of each table: reading it costs a lookup, and fails when the table is gone.
    this.probes = [
      `SELECT first_ts FROM ${ks}.log_chunks WHERE namespace = '' AND pod_name = '' AND container_name = '' AND window = 0 LIMIT 1`,
      `SELECT window FROM ${ks}.log_windows WHERE namespace = '' AND pod_name = '' AND container_name = '' AND day = 0 LIMIT 1`,
      `SELECT ts FROM ${ks}.log_lines WHERE namespace = '' AND pod_name = '' AND container_name = '' AND bucket = 0 LIMIT 1`,
      `SELECT source FROM ${ks}.log_sources WHERE namespace = '' AND pod_name = '' AND container_name = '' LIMIT 1`,
      `SELECT bucket FROM ${ks}.log_buckets WHERE namespace = '' AND pod_name = '' AND container_name = '' AND day = 0 LIMIT 1`,
      `SELECT day FROM ${ks}.log_days WHERE namespace = '' AND pod_name = '' AND container_name = '' LIMIT 1`,
      `SELECT day FROM ${ks}.log_stream_days WHERE tenant = '' AND year = 0 LIMIT 1`,
      `SELECT namespace FROM ${ks}.log_streams WHERE tenant = '' AND day = 0 LIMIT 1`,
      `SELECT minute FROM ${ks}.log_counts WHERE namespace = '' AND pod_name = '' AND container_name = '' AND day = 0 LIMIT 1`,
    ];
    const st = this.statements;
    st.selectDaysDesc = `${st.selectDays} ORDER BY day DESC`;
    st.selectBucketsDesc = `${st.selectBuckets} ORDER BY bucket DESC`;
    st.selectWindowsDesc = `${st.selectWindows} ORDER BY window DESC`;
    st.selectLinesDesc = `${st.selectLines} ORDER BY ts DESC, id DESC`;
    st.selectLinesWithSourceDesc = `${st.selectLinesWithSource} ORDER BY ts DESC, id DESC`;
  }

  /** Connects, creates the keyspace and tables when missing, and returns a ready store. */
  static async connect(options: CassandraStoreOptions): Promise<CassandraStore> {
    const client = new Client({
      contactPoints: options.nodes,
      localDataCenter: options.localDatacenter,
      protocolOptions: { port: options.port, maxVersion: 4 },
      encoding: { useBigIntAsLong: true, useUndefinedAsUnset: true },
      authProvider: options.username ? new auth.PlainTextAuthProvider(options.username, options.password ?? "") : undefined,
      sslOptions: options.tls
        ? { ca: options.tlsCaFile ? [readFileSync(options.tlsCaFile)] : undefined, rejectUnauthorized: !options.tlsInsecure }
        : undefined,
      // Come back within seconds of the cluster returning, whatever the length of the outage.
      policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(500, 5_000, true) },
      socketOptions: { connectTimeout: 5_000, readTimeout: 12_000 },
      queryOptions: { consistency: types.consistencies[toConsistencyKey(options.consistency)], prepare: true },
      refreshSchemaDelay: options.refreshSchemaDelay ?? 1000,
    });
    let legacy: boolean;
    try {
      await client.connect();
      await createSchema(client, options);
      legacy = await holdsLegacyLines(client, options);
    } catch (error) {
      await client.shutdown().catch(() => {});
      throw new StoreUnavailableError(`cannot use Cassandra at ${options.nodes.join(",")}: ${(error as Error).message}`, 5, {
        cause: error,
      });
    }
    log.info("cassandra store ready", { nodes: options.nodes, keyspace: options.keyspace, legacyLines: legacy });
    const store = new CassandraStore(client, options, legacy);
    if (options.recoverWindows && (options.compactAfterMs ?? COMPACT_AFTER_MS) >= 0) store.recovery = store.recoverWindows();
    return store;
  }

  /** The look for windows left uncompacted (see recoverWindows), while it runs. */
  private recovery: Promise<void> | undefined;

  /**
   * The compaction knows the windows this process writes to; those a server wrote to just before
   * it stopped (a crash, or a stop within compactAfterMs of a write) would keep their small
   * chunks until written again. At start, the windows of the last RECOVER_LOOKBACK_NS of log time
   * of every stream that wrote today or yesterday (UTC) are listed, in the background, and those
   * with chunks to merge are compacted. Several replicas doing so at once is safe (compaction is).
   */
  private async recoverWindows(): Promise<void> {
    const t0 = performance.now();
    try {
      const now = nowNs();
      const today = Number(now / NS_PER_DAY);
      const days = [today - 1, today];
      const tenants = new Set<string>();
      const rows = await this.readAll(`SELECT DISTINCT tenant, year FROM ${this.options.keyspace}.log_stream_days`, []);
      for (const r of rows) if (r.year === yearOf(today) || r.year === yearOf(today - 1)) tenants.add(r.tenant as string);
      // By stream and window: a stream listed on both days, its windows once.
      const windows = new Map<string, { names: string[]; window: bigint; seconds: number }>();
      for (const tenant of tenants) {
        for (const day of days) {
          for (const r of await this.readAll(this.statements.selectStreams, [tenant, day])) {
            const lastNs = r.last_ts as bigint | null;
            if (lastNs == null || lastNs < now - NS_PER_DAY) continue;
            const namespace = r.namespace as string;
            const names = [storedNamespace({ tenant, namespace }), r.pod_name as string, r.container_name as string];
            const seconds = this.retention.secondsFor(tenant, namespace);
            for (let w = windowOf(lastNs); w >= windowOf(lastNs - RECOVER_LOOKBACK_NS); w -= WINDOW_NS)
              windows.set(compositeKey(...names, String(w)), { names, window: w, seconds });
          }
        }
      }
      const found = await this.compactor.recover(windows.values());
      log.info("cassandra compaction: looked for windows left uncompacted", {
        windows: windows.size,
        toCompact: found,
        ms: Math.round(performance.now() - t0),
      });
    } catch (error) {
      // Nothing is lost: the windows stay readable as they are.
      if (!this.closed)
        log.warn("cassandra compaction: the look for windows left uncompacted failed", { error: (error as Error).message });
    }
  }

  async write(entries: LogEntry[]): Promise<WriteResult> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    if (entries.length === 0) return { deduplicated: 0, rejected: [] };
    // Bounded queue: refuse rather than pile up (a batch larger than the whole buffer still
    // goes through alone, or it could never be stored).
    if (this.queued > 0 && this.queued + entries.length > this.options.writeBufferSize) {
      throw new StoreBusyError(
        `write queue full (${this.queued} lines waiting, --cassandra-write-buffer-size ${this.options.writeBufferSize})`,
      );
    }
    this.queued += entries.length;
    const work = this.writeBatch(entries);
    this.inFlight.add(work);
    try {
      // Writes are blind upserts: whether a line met one stored before cannot be told without a read.
      return { deduplicated: 0, rejected: await work };
    } catch (error) {
      if (isSchemaMissing(error)) this.repairSchema(error);
      throw new StoreUnavailableError(`cassandra write failed: ${(error as Error).message}`, 5, { cause: error });
    } finally {
      this.inFlight.delete(work);
      this.queued -= entries.length;
    }
  }

  /**
   * Writes a batch: index rows first, then per container and window of the batch its lines as a
   * chunk (cut further when large: cutChunks), one insert each, beside the per-minute counts.
   * Resolves with the entries Cassandra refused for good (a chunk refused is halved until the
   * lines refused alone are known, so that one bad line never costs its neighbours); rejects with
   * the first failure that may pass.
   */
  private async writeBatch(entries: LogEntry[]): Promise<StoreRejection[]> {
    const ids = lineIds(entries);
    const seqs = sequenceNumbers(entries);
    const rejected = new Map<number, string>();
    const maxBytes = this.options.maxRequestBytes ?? MAX_REQUEST_BYTES;
    const policy = this.retention;
    // Whether statements state their TTL: when some line may expire, every one does, 0 (no expiry)
    // included, so that no table default applies to a namespace whose retention differs from it.
    const statedTtl = policy.expires;
    const nowTimeNs = nowNs();
    const s = this.statements;
    /** Index rows to write, with the entries that need them (lists filled as entries are seen). */
    const index = new Map<string, { query: string; params: unknown[]; at: number[][] }>();
    const now = Date.now();
    // Index rows that expire are written again when written more than a day ago, so that a
    // container logging for longer than its retention keeps its source row alive.
    const need = (key: string, expires: boolean, dependents: number[], query: string, params: unknown[]) => {
      const at = this.knownIndex.get(key);
      if (at !== undefined && (!expires || now - at < DAY_SECONDS * 1000)) return;
      const item = index.get(key);
      if (item) item.at.push(dependents);
      else index.set(key, { query, params, at: [dependents] });
    };
    // Per-minute counts of the lines sent (see countWrites), and each counted container's names.
    const tally = new MinuteTally();
    const counted = new Map<string, { names: string[]; seconds: number }>();
    /** Each container's lines, as chunks take them. */
    const containers = new Map<string, ContainerLines>();
    let last: SourceRun | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (last === undefined || !sameContainerAndSource(last.e, e)) {
        const previous = last !== undefined && sameContainer(last.e, e) ? last : undefined;
        const container = previous?.container ?? containerKey(e);
        // sourceKey(e), with the labels' JSON made once for the chunks as well.
        const labels = JSON.stringify(e.labels);
        const key = compositeKey(e.podId, e.dockerId, e.host, labels);
        const id = BigInt.asIntN(64, Bun.hash.wyhash(key));
        let lines = previous?.lines ?? containers.get(container);
        if (lines === undefined) {
          // The namespace decides the TTL of the container's chunks; its index rows outlive the
          // longest-lived chunk they point to by a day.
          const seconds = policy.secondsFor(e.tenant, e.namespace);
          lines = {
            names: [storedNamespace(e), e.pod, e.container],
            seconds,
            indexTtl: statedTtl ? [indexTtlFor(seconds)] : [],
            lines: [],
          };
          containers.set(container, lines);
          counted.set(container, { names: lines.names, seconds });
        }
        last = {
          e,
          container,
          lines,
          source: { podId: e.podId, dockerId: e.dockerId, host: e.host, labels },
          at: [],
          tooLarge: tooLargeFor(key, maxBytes, "metadata (labels)"),
        };
        // The sources of chunks are in the chunks; log_sources still lists them, as before.
        if (last.tooLarge === undefined)
          need(
            compositeKey(container, `s${id}`),
            lines.seconds > 0,
            last.at,
            statedTtl ? s.insertSourceWithTtl : s.insertSource,
            [...lines.names, id, e.podId, e.dockerId, e.host, e.labels, ...lines.indexTtl],
          );
      }
      // What Cassandra cannot take in one request is never sent: an oversized frame is refused,
      // and can cost the requests that share its connection (seen here: their reads time out).
      const tooLarge = last.tooLarge ?? tooLargeFor(e.log, maxBytes, "line") ?? unstorableNamespace(e);
      if (tooLarge !== undefined) {
        rejected.set(i, tooLarge);
        continue;
      }
      last.at.push(i);
      const level = e.level ?? "";
      const counts = tally.add(
        last.container,
        e.timeNs,
        level === "" && (e.stream === "stdout" || e.stream === "stderr") ? e.stream : kindOf(e.stream, level),
        e.stream,
        level,
        utf8Length(e.log),
      );
      if (counts.lines === 1) {
        counts.firstId = ids[i]!;
        counts.firstNs = e.timeNs;
      }
      counts.lastId = ids[i]!;
      counts.lastNs = e.timeNs;
      last.lines.lines.push({
        timeNs: e.timeNs,
        seq: seqs[i]!,
        id: ids[i]!,
        stream: e.stream,
        level,
        source: last.source,
        metadata: e.metadata !== undefined && hasKeys(e.metadata) ? JSON.stringify(e.metadata) : null,
        log: e.log,
        at: i,
      });
    }

    // Each container's lines in order, cut into chunks of one window (and at most about a MiB
    // of text) each: a resent batch cuts the same chunks, and writes the same rows again.
    const pieces: Piece[] = [];
    for (const [container, c] of containers) {
      if (c.lines.length === 0) continue;
      for (const lines of cutChunks(chunkOrder(c.lines)) as IndexedLine[][]) {
        const window = windowOf(lines[0]!.timeNs);
        const day = dayOfWindow(window);
        // Sorted by (time, seq, id): the last line is the latest of the batch at the last time.
        const latest = lines.at(-1)!;
        const piece: Piece = {
          container,
          names: c.names,
          window,
          day,
          lines,
          at: lines.map((l) => l.at),
          firstNs: lines[0]!.timeNs,
          lastNs: latest.timeNs,
          latest: latest.at,
          seconds: c.seconds,
        };
        pieces.push(piece);
        const expires = c.seconds > 0;
        need(compositeKey(container, `w${window}`), expires, piece.at, statedTtl ? s.insertWindowWithTtl : s.insertWindow, [
          ...c.names,
          day,
          window,
          ...c.indexTtl,
        ]);
        need(compositeKey(container, `d${day}`), expires, piece.at, statedTtl ? s.insertDayWithTtl : s.insertDay, [
          ...c.names,
          day,
          ...c.indexTtl,
        ]);
      }
    }

    const refuse = (at: number[][], error: unknown) => {
      const detail = `Cassandra refused the line: ${(error as Error).message}`;
      for (const list of at) for (const i of list) if (!rejected.has(i)) rejected.set(i, detail);
    };
    // The index that finds chunks first (windows, days, and the sources): a window listed without
    // chunks costs one empty read, chunks without their window listed would be invisible. Its rows
    // are written once per container and window (remembered), so that most batches skip this
    // round trip. An index row refused for good refuses its lines.
    if (index.size > 0) {
      const indexResults = await Promise.allSettled(
        [...index.entries()].map(async ([key, { query, params, at }]) => {
          try {
            await this.writes.run(() => this.client.execute(query, params, this.writeOptions));
            this.rememberIndex(key);
          } catch (error) {
            if (isTransient(error)) throw error;
            refuse(at, error);
          }
        }),
      );
      const indexFailure = indexResults.find((r) => r.status === "rejected");
      if (indexFailure) throw (indexFailure as PromiseRejectedResult).reason;
    }

    // Then everything else at once: the chunks, and the counts with the stream index (which
    // lists streams for streams(), not lines; moved by most batches, it would otherwise cost each
    // batch a round trip more). A request is answered only once all of it is written: one that
    // fails is sent again whole.
    const batches: Promise<unknown>[] = [];
    // When these lines were stored: of two copies of a line (a resend cut differently), the one
    // born first is what reads give (see cassandra-chunks.ts).
    const born = BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
    const write = { maxBytes, statedTtl, nowTimeNs, born, refuse, rejected };
    for (const p of pieces) {
      const lines = rejected.size === 0 ? p.lines : p.lines.filter((l) => !rejected.has(l.at));
      if (lines.length > 0) batches.push(this.writeChunks(p, lines, write));
    }
    // The count rows in single-partition batches, and each stream index row alone, all at once.
    // (Not one batch of both: measured with the commit log synced in groups, a batch over several
    // partitions is answered much later than its rows sent apart at once.)
    const small: Statement[][] = [];
    for (const rows of this.countWrites(tally, counted, statedTtl, nowTimeNs).values()) {
      for (let k = 0; k < rows.length; k += BATCH_ROWS) small.push(rows.slice(k, k + BATCH_ROWS));
    }
    for (const w of this.streamIndexWrites(entries, pieces)) small.push([w]);
    for (const part of small) {
      batches.push(
        this.writes
          .run(() =>
            part.length === 1
              ? this.client.execute(part[0]!.query, part[0]!.params, this.writeOptions)
              : this.client.batch(part, { ...this.writeOptions, logged: false }),
          )
          .then(
            () => {
              for (const w of part) w.done?.();
            },
            (error: unknown) => {
              if (isTransient(error)) throw error;
              // Counts and stream index rows Cassandra refuses for good never cost the lines
              // (stored meanwhile): they are logged and counted.
              log.error("cassandra refused per-minute counts or stream index rows", { error: (error as Error).message });
              this.options.observer?.error("write", error);
            },
          ),
      );
    }
    // Settle every write before answering, so that a failure is reported only once nothing of
    // this request is still being written.
    const results = await Promise.allSettled(batches);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return [...rejected].map(([index, detail]) => ({ index, detail })).sort((a, b) => a.index - b.index);
  }

  /**
   * Lines of one piece as chunks, each one insert: halved until each fits in a request (a line
   * that cannot fit alone, with its metadata, is rejected), and halved again when Cassandra
   * refuses one for good, down to the lines it refuses alone.
   */
  private async writeChunks(p: Piece, lines: IndexedLine[], w: ChunkWrite): Promise<void> {
    const { chunks, tooLarge } = encodeWithin(lines, INGEST_LEVEL, w.maxBytes);
    for (const { line, bytes } of tooLarge) {
      w.rejected.set(
        line.at,
        `the line with its metadata is ${bytes} bytes compressed: larger than Cassandra takes in one request (${w.maxBytes} bytes; native_transport_max_frame_size)`,
      );
    }
    await Promise.all(
      chunks.map(async ({ chunk, lines: part }) => {
        // The chunk lives as long as its last line may.
        const ttl = w.statedTtl ? (p.seconds > 0 ? ttlFor(chunk.lastNs, w.nowTimeNs, p.seconds) : 0) : undefined;
        const query = ttl === undefined ? this.chunks.insert : this.chunks.insertWithTtl;
        try {
          await this.writes.run(() =>
            this.client.execute(query, this.chunks.insertParams(p.names, p.window, chunk, w.born, ttl), this.writeOptions),
          );
          this.compactor.written(p.names, p.window, p.seconds);
        } catch (error) {
          if (isTransient(error)) throw error;
          if (part.length === 1) return w.refuse([[part[0]!.at]], error);
          const half = part.length >>> 1;
          await Promise.all([part.slice(0, half), part.slice(half)].map((lines) => this.writeChunks(p, lines, w)));
        }
      }),
    );
  }

  /**
   * The count rows of a batch, per partition (container and day): one row per (container,
   * minute, stream, level) the batch has lines of, keyed by what those lines are (contentKey), so
   * that a byte-identical resend writes the same rows with the same values, and adds nothing to
   * what reads sum.
   */
  private countWrites(
    tally: MinuteTally,
    counted: Map<string, { names: string[]; seconds: number }>,
    statedTtl: boolean,
    nowTimeNs: bigint,
  ): Map<string, Statement[]> {
    const query = statedTtl ? this.statements.insertCountWithTtl : this.statements.insertCount;
    const partitions = new Map<string, Statement[]>();
    for (const row of tally.rows) {
      const { names, seconds } = counted.get(row.group)!;
      const day = Number(row.minuteNs / NS_PER_DAY);
      const params: unknown[] = [
        ...names,
        day,
        row.minuteNs,
        row.stream,
        row.level,
        contentKey(row),
        BigInt(row.lines),
        BigInt(row.bytes),
      ];
      // The row lives as long as the last line of its minute may.
      if (statedTtl) params.push(seconds > 0 ? ttlFor(row.minuteNs + NS_PER_MINUTE, nowTimeNs, seconds) : 0);
      const key = compositeKey(row.group, String(day));
      let rows = partitions.get(key);
      if (rows === undefined) partitions.set(key, (rows = []));
      rows.push({ query, params });
    }
    return partitions;
  }

  /**
   * The stream index rows a batch moves: per container and day, the last time (with the labels
   * and host of the latest line) when later than known, the first time when earlier; and the day
   * of the tenant when not known.
   */
  private streamIndexWrites(entries: LogEntry[], pieces: Piece[]): Statement[] {
    const days = new Map<string, { p: Piece; firstNs: bigint; lastNs: bigint; latest: number }>();
    for (const p of pieces) {
      const key = compositeKey(p.container, String(p.day));
      const d = days.get(key);
      if (d === undefined) {
        days.set(key, { p, firstNs: p.firstNs, lastNs: p.lastNs, latest: p.latest });
        continue;
      }
      if (p.firstNs < d.firstNs) d.firstNs = p.firstNs;
      if (p.lastNs >= d.lastNs) {
        d.lastNs = p.lastNs;
        d.latest = p.latest;
      }
    }
    const writes: Statement[] = [];
    const now = Date.now();
    for (const d of days.values()) {
      const tenant = entries[d.latest]!.tenant;
      // One row lists a day for all of a tenant's namespaces. A later write of it with a shorter
      // TTL would shorten its life (Cassandra keeps the latest write's), so it lives as long as
      // the longest retention the tenant's namespaces may have; reads drop what is past each
      // namespace's own. Written again daily when it expires, so that the day outlives its lines.
      const ttl = streamDayTtlFor(this.retention, tenant);
      const dayKey = compositeKey("day", tenant, String(d.p.day));
      const at = this.knownIndex.get(dayKey);
      if (at !== undefined && (ttl === 0 || now - at < DAY_SECONDS * 1000)) continue;
      if (writes.some((w) => w.query === this.statements.insertStreamDay && w.params[0] === tenant && w.params[2] === d.p.day))
        continue;
      writes.push({
        query: this.statements.insertStreamDay,
        params: [tenant, yearOf(d.p.day), d.p.day, ttl],
        done: () => this.rememberIndex(dayKey),
      });
    }
    for (const [key, d] of days) {
      const known = this.knownStreams.get(key);
      const e = entries[d.latest]!;
      // A stream's row holds one namespace: it outlives that namespace's lines by a day.
      const ttl = indexTtlFor(d.p.seconds);
      const where = [e.tenant, d.p.day, e.namespace, e.pod, e.container];
      if (known === undefined || d.lastNs > known.lastNs) {
        writes.push({
          query: this.statements.updateStreamLast,
          params: [ttl, d.lastNs / 1000n, d.lastNs, e.labels, e.host, ...where],
          done: () => this.rememberStream(key, { lastNs: d.lastNs }),
        });
      }
      if (known === undefined || d.firstNs < known.firstNs) {
        writes.push({
          query: this.statements.updateStreamFirst,
          params: [ttl, STREAM_FIRST_BASE - d.firstNs / 1000n, d.firstNs, ...where],
          done: () => this.rememberStream(key, { firstNs: d.firstNs }),
        });
      }
    }
    return writes;
  }

  private rememberStream(key: string, times: { firstNs?: bigint; lastNs?: bigint }): void {
    const known = this.knownStreams.get(key);
    if (known === undefined && this.knownStreams.size >= INDEX_CACHE_LIMIT) this.knownStreams.clear();
    const next = known ?? { firstNs: times.firstNs ?? times.lastNs!, lastNs: times.lastNs ?? times.firstNs! };
    if (times.firstNs !== undefined && times.firstNs < next.firstNs) next.firstNs = times.firstNs;
    if (times.lastNs !== undefined && times.lastNs > next.lastNs) next.lastNs = times.lastNs;
    this.knownStreams.set(key, next);
  }

  private forgetIndex(): void {
    this.knownIndex.clear();
    this.knownStreams.clear();
  }

  private rememberIndex(key: string): void {
    if (this.knownIndex.size >= INDEX_CACHE_LIMIT) this.knownIndex.clear();
    this.knownIndex.set(key, Date.now());
  }

  async streams(tenant: string, from: bigint, endNs: bigint): Promise<StreamInfo[]> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    const now = nowNs();
    // Nothing past retention is listed, whether or not its TTL has removed it yet.
    const startNs = listingStartNs(this.retention, tenant, from, now);
    if (endNs < startNs || endNs < 0n) return [];
    const firstDay = Number((startNs < 0n ? 0n : startNs) / NS_PER_DAY);
    const lastDay = Number(endNs / NS_PER_DAY);
    // The days that hold lines, from their own small index: one read per year of the range.
    const years: number[] = [];
    for (let y = yearOf(firstDay); y <= yearOf(lastDay); y++) years.push(y);
    const days = (
      await Promise.all(years.map((y) => this.readAll(this.statements.selectStreamDays, [tenant, y, firstDay, lastDay])))
    ).flatMap((rows) => rows.map((r) => r.day as number));
    const perDay = await Promise.all(days.map((day) => this.readAll(this.statements.selectStreams, [tenant, day])));
    // One entry per container: the earliest first and latest last of its days in the range, and
    // the labels and host of the latest.
    const found = new Map<string, StreamInfo>();
    for (const rows of perDay) {
      for (const r of rows) {
        const firstNs = (r.first_ts as bigint | null) ?? (r.last_ts as bigint | null);
        const lastNs = (r.last_ts as bigint | null) ?? firstNs;
        if (firstNs == null || lastNs == null || lastNs < startNs || firstNs > endNs) continue;
        const ref = {
          tenant,
          namespace: r.namespace as string,
          pod: r.pod_name as string,
          container: r.container_name as string,
        };
        const key = containerKey(ref);
        const known = found.get(key);
        if (known === undefined) {
          found.set(key, { ...ref, firstNs, lastNs, labels: labelsOf(r.labels), host: (r.host as string | null) ?? "" });
          continue;
        }
        if (firstNs < known.firstNs) known.firstNs = firstNs;
        if (lastNs > known.lastNs) {
          known.lastNs = lastNs;
          known.labels = labelsOf(r.labels);
          known.host = (r.host as string | null) ?? "";
        }
      }
    }
    return streamsWithinRetention([...found.values()], this.retention, now, endNs);
  }

  async *read(stream: StreamRef, asked: StreamRead): AsyncIterable<OrderedRow[]> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    // Nothing past the namespace's retention is read, whether or not its TTL has removed it yet.
    const range = withinRetention(asked, this.retention.cutoffNs(stream.tenant, stream.namespace, nowNs()));
    const { startNs, endNs } = remainingRange(range);
    if (endNs < startNs || endNs < 0n) return;
    const pageBytes = this.options.pageBytes ?? DEFAULT_PAGE_BYTES;
    if (!this.legacy) {
      yield* this.readChunks(stream, range, pageBytes);
      return;
    }
    // A keyspace from before chunks: the lines of log_lines and of chunks, merged, a line that
    // both hold once (a batch resent after the upgrade): log_lines' copy, stored first. The
    // cursor applies after the merge, as which copy of a line stays decides whether it was passed.
    const whole: StreamRead = { ...range, startNs, endNs, after: undefined };
    yield* mergeOrdered(
      [this.readLines(stream, whole, pageBytes), this.readChunks(stream, whole, pageBytes)],
      range.direction,
      range.after,
      pageBytes,
      range.limitHint,
    );
  }

  /**
   * A stream's rows from its chunks (mergeChunks over the windows of the range). Chunks listed
   * and compacted away before they are fetched are gone, but their lines are in chunks written
   * before: the read lists again from the last row it gave (readChunks).
   */
  private readChunks(s: StreamRef, range: StreamRead, pageBytes: number): AsyncGenerator<OrderedRow[]> {
    const names = [storedNamespace(s), s.pod, s.container];
    const list = (current: StreamRead) => {
      const { startNs, endNs } = remainingRange(current);
      const forward = current.direction === "forward";
      const windows = this.windowsIn(names, startNs, endNs, forward);
      return chunkRefs(this.chunks, names, windows, startNs, endNs, forward, current.limitHint);
    };
    return readChunks(list, range, pageBytes, "cassandra");
  }

  /** A stream's rows from log_lines (a keyspace from before chunks). */
  private async *readLines(stream: StreamRef, range: StreamRead, pageBytes: number): AsyncGenerator<OrderedRow[]> {
    const { startNs, endNs } = remainingRange(range);
    const forward = range.direction === "forward";
    const buckets = this.bucketsIn(stream, startNs, endNs, forward);
    const readAheadBytes = this.options.readAheadBytes ?? 8 * pageBytes;
    const sizer = new PageSizer(pageBytes, range.limitHint);
    // Pod and container ids by source, read once per read from the container's log_sources.
    const sources = range.withSource ? this.sourcesOf(stream) : undefined;
    sources?.catch(() => {}); // observed by the first page that needs it
    // Under a limit, later partitions are read ahead only as far as the rows still needed call
    // for, going by the rows the partitions read so far held: none when the newest partition
    // holds the last 100 lines, several at once when partitions hold a line or two each.
    let rowsRead = 0;
    let partitionsRead = 0;
    const aheadAllowed = (): number => {
      if (range.limitHint === undefined) return Number.POSITIVE_INFINITY;
      if (partitionsRead === 0) return 0;
      const perPartition = Math.max(rowsRead / partitionsRead, 1 / 64);
      return Math.min(MAX_LIMITED_READ_AHEAD, Math.ceil((range.limitHint - rowsRead) / perPartition) - 1);
    };
    // Partitions are disjoint in time and listed in order: the first pages of later ones are
    // read ahead, in parallel, while their estimated size fits in readAheadBytes, and handed out
    // in order. Until a page has told the size of a row, one partition is read at a time.
    const pending: { page: Promise<PartitionPage>; bytes: number }[] = [];
    let aheadBytes = 0;
    let listed = false;
    const fill = async () => {
      while (!listed) {
        const bytes = sizer.pageEstimate();
        if (pending.length > 0 && (bytes === undefined || aheadBytes + bytes > readAheadBytes)) return;
        if (pending.length > 0 && pending.length > aheadAllowed()) return;
        const next = await buckets.next();
        if (next.done) {
          listed = true;
          return;
        }
        const page = this.readPartition(stream, next.value, startNs, endNs, forward, sizer, sources);
        page.catch(() => {}); // observed when its turn comes
        pending.push({ page, bytes: bytes ?? pageBytes });
        aheadBytes += bytes ?? pageBytes;
      }
    };
    // Lines of one time come from Cassandra in (ts, id) order and go out in (ts, seq, id) order:
    // a run of equal times is held until it is complete, also across a page border.
    const orderer = new RunOrderer(range.direction, range.after);
    try {
      await fill();
      while (pending.length > 0) {
        const head = pending.shift()!;
        aheadBytes -= head.bytes;
        let page = await head.page;
        for (;;) {
          rowsRead += page.rows.length;
          if (page.more === undefined) partitionsRead++;
          await fill();
          // A time lies in one partition: at its end the run is complete.
          yield* cutPages(orderer.push(page.rows, page.more === undefined), pageBytes);
          if (page.more === undefined) break;
          page = await page.more();
        }
      }
    } finally {
      await buckets.return(undefined);
    }
  }

  async *counts(stream: StreamRef, startNs: bigint, endNs: bigint): AsyncIterable<MinuteCount[]> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    // Minutes that start before the namespace's cutoff are left out, as reads leave out its lines.
    const cutoff = this.retention.cutoffNs(stream.tenant, stream.namespace, nowNs());
    const from = cutoff > startNs ? cutoff : startNs < 0n ? 0n : startNs;
    if (endNs < from) return;
    const names = [storedNamespace(stream), stream.pod, stream.container];
    const firstDay = Number(from / NS_PER_DAY);
    const lastDay = Number(endNs / NS_PER_DAY);
    // A few days are read outright; more, only those the day index lists (a day's counts go with
    // its lines, and log_days outlives them).
    let days: number[];
    if (lastDay - firstDay < 3) days = Array.from({ length: lastDay - firstDay + 1 }, (_, k) => firstDay + k);
    else {
      // A minute is kept under the day it starts in, and holds the lines of (m, m + 1 min]: the
      // last minute of day d - 1 may hold just a line at midnight, of day d. So each listed day
      // brings the day before it.
      const listed = (await this.readAll(this.statements.selectDays, [...names, firstDay, lastDay])).map((r) => r.day as number);
      const wanted = new Set<number>();
      for (const d of listed) {
        if (d - 1 >= firstDay) wanted.add(d - 1);
        wanted.add(d);
      }
      days = [...wanted].sort((a, b) => a - b);
    }
    // Each day's first page is read ahead, a few days at a time, and handed out in order.
    const firstPage = (day: number) => {
      const page = this.countPage(names, day, from, endNs);
      page.catch(() => {}); // observed when its turn comes
      return page;
    };
    const ahead: Promise<CountPage>[] = [];
    let next = 0;
    const merger = new CountMerger();
    while (next < days.length || ahead.length > 0) {
      while (next < days.length && ahead.length < COUNT_READ_AHEAD) ahead.push(firstPage(days[next++]!));
      let page = await ahead.shift()!;
      for (;;) {
        const rows = merger.push(page.rows, false);
        if (rows.length > 0) yield rows;
        if (page.more === undefined) break;
        page = await page.more();
      }
    }
    const rest = merger.push([], true);
    if (rest.length > 0) yield rest;
  }

  /** One page of a day's count rows, by (minute, stream, level, batch_key). */
  private async countPage(names: string[], day: number, from: bigint, endNs: bigint, pageState?: string): Promise<CountPage> {
    const rs = await this.reads.run(() =>
      this.execute(this.statements.selectCounts, [...names, day, from, endNs], { fetchSize: 5000, pageState }),
    );
    const rows: MinuteCount[] = rs.rows.map((r) => ({
      minuteNs: r.minute as bigint,
      stream: r.stream as string,
      level: r.level as string,
      lines: Number(r.lines as bigint),
      bytes: Number(r.bytes as bigint),
    }));
    const more = rs.pageState ? () => this.countPage(names, day, from, endNs, rs.pageState) : undefined;
    return { rows, more };
  }

  /**
   * The windows that may hold chunks of a range, in the direction, listed lazily: a short range's
   * every window (reading a few partitions outright costs less than the index round trips that
   * would name them); a longer one's from the index, the days that hold lines first, then each
   * day's windows when its turn comes (the next day's listing read ahead).
   */
  private async *windowsIn(names: string[], startNs: bigint, endNs: bigint, forward: boolean): AsyncGenerator<bigint> {
    const first = windowOf(startNs < 0n ? 0n : startNs);
    const last = windowOf(endNs);
    if ((last - first) / WINDOW_NS < DIRECT_WINDOWS) {
      if (forward) for (let w = first; w <= last; w += WINDOW_NS) yield w;
      else for (let w = last; w >= first; w -= WINDOW_NS) yield w;
      return;
    }
    const st = this.statements;
    const days = (
      await this.readAll(forward ? st.selectDays : st.selectDaysDesc, [...names, dayOfWindow(first), dayOfWindow(last)])
    ).map((r) => r.day as number);
    const query = forward ? st.selectWindows : st.selectWindowsDesc;
    for await (const r of this.dayByDay(days, (day) => [...names, day, first, last], query)) yield r.window as bigint;
  }

  /**
   * The non-empty buckets of log_lines that may hold lines of a range, in the direction, listed lazily: the
   * days that hold lines first, then each day's buckets when its turn comes (the next day's
   * listing is read ahead), so that a read that stops early lists little.
   */
  private async *bucketsIn(s: StreamRef, startNs: bigint, endNs: bigint, forward: boolean): AsyncGenerator<bigint> {
    const first = bucketOf(startNs < 0n ? 0n : startNs);
    const last = bucketOf(endNs);
    const step = BigInt(BUCKET_SECONDS) * 1000n;
    // A short range (the usual "what happened at 02:13") spans a few buckets: reading them
    // outright costs less than the index round trips that would name them.
    if ((last - first) / step < DIRECT_BUCKETS) {
      if (forward) for (let b = first; b <= last; b += step) yield b;
      else for (let b = last; b >= first; b -= step) yield b;
      return;
    }
    const names = [storedNamespace(s), s.pod, s.container];
    const st = this.statements;
    const days = (await this.readAll(forward ? st.selectDays : st.selectDaysDesc, [...names, dayOf(first), dayOf(last)])).map(
      (r) => r.day as number,
    );
    const query = forward ? st.selectBuckets : st.selectBucketsDesc;
    for await (const r of this.dayByDay(days, (day) => [...names, day, first, last], query)) yield r.bucket as bigint;
  }

  /**
   * The rows of a per-day index query, day after day in the order given, the next day's rows read
   * ahead while this day's are handed out.
   */
  private async *dayByDay(
    days: number[],
    params: (day: number) => unknown[],
    query: string,
  ): AsyncGenerator<cassandra.types.Row> {
    const listing = (day: number) => {
      const rows = this.readAll(query, params(day));
      rows.catch(() => {}); // observed when its turn comes
      return rows;
    };
    let next = days.length > 0 ? listing(days[0]!) : undefined;
    for (let i = 0; i < days.length; i++) {
      const rows = await next!;
      next = i + 1 < days.length ? listing(days[i + 1]!) : undefined;
      yield* rows;
    }
  }

  /** Every row of a (small) index query, page by page. */
  private async readAll(query: string, params: unknown[]): Promise<cassandra.types.Row[]> {
    const out: cassandra.types.Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.reads.run(() => this.execute(query, params, { fetchSize: 5000, pageState }));
      out.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return out;
  }

  /** A container's sources: pod id and container id by source id. */
  private async sourcesOf(s: StreamRef): Promise<Map<bigint, { podId: string; dockerId: string }>> {
    const rows = await this.readAll(this.statements.selectSources, [storedNamespace(s), s.pod, s.container]);
    return new Map(
      rows.map((r) => [
        r.source as bigint,
        { podId: (r.pod_id as string | null) ?? "", dockerId: (r.docker_id as string | null) ?? "" },
      ]),
    );
  }

  private async readPartition(
    s: StreamRef,
    bucket: bigint,
    startNs: bigint,
    endNs: bigint,
    forward: boolean,
    sizer: PageSizer,
    sources: Promise<Map<bigint, { podId: string; dockerId: string }>> | undefined,
    pageState?: string,
  ): Promise<PartitionPage> {
    const st = this.statements;
    const statement =
      sources === undefined
        ? forward
          ? st.selectLines
          : st.selectLinesDesc
        : forward
          ? st.selectLinesWithSource
          : st.selectLinesWithSourceDesc;
    const rs = await this.reads.run(() =>
      this.execute(statement, [storedNamespace(s), s.pod, s.container, bucket, startNs, endNs], {
        fetchSize: sizer.fetchSize(),
        pageState,
      }),
    );
    const rows = new Array<OrderedRow>(rs.rows.length);
    let bytes = 0;
    for (let i = 0; i < rs.rows.length; i++) {
      const r = rs.rows[i]!;
      const text = r.log as string;
      bytes += text.length + ROW_OVERHEAD_BYTES;
      rows[i] = {
        timeNs: r.ts as bigint,
        log: text,
        stream: (r.stream as string | null) ?? "",
        seq: Number(r.seq as bigint),
        id: r.id as bigint,
      };
    }
    if (sources !== undefined) {
      const known = await sources;
      for (let i = 0; i < rows.length; i++) {
        const r = rs.rows[i]!;
        const source = known.get(r.source as bigint);
        const row = rows[i]!;
        row.podId = source?.podId ?? "";
        row.dockerId = source?.dockerId ?? "";
        const metadata = r.metadata as string | null;
        if (metadata != null) row.metadata = parseStringMap(metadata);
      }
    }
    sizer.observe(rows.length, bytes);
    const more = rs.pageState
      ? () => this.readPartition(s, bucket, startNs, endNs, forward, sizer, sources, rs.pageState)
      : undefined;
    return { rows, more };
  }

  private async execute(query: string, params: unknown[], opts: { fetchSize?: number; pageState?: string }) {
    try {
      return await this.client.execute(query, params, {
        prepare: true,
        consistency: this.consistency,
        isIdempotent: true,
        fetchSize: opts.fetchSize,
        pageState: opts.pageState,
      });
    } catch (error) {
      if (isSchemaMissing(error)) this.repairSchema(error);
      if (isTransient(error))
        throw new StoreUnavailableError(`cassandra query failed: ${(error as Error).message}`, 5, { cause: error });
      throw error;
    }
  }

  /**
   * Creates the keyspace and tables again when they are gone: a single node that crashes soon
   * after a schema change may come back without it, and someone may drop them. One repair at a
   * time, at most one every 2 s; writes and reads answer 503 meanwhile. Statements need no work:
   * the driver prepares a statement again when Cassandra no longer knows it.
   */
  private repairSchema(cause: unknown): void {
    if (this.closed || this.schemaRepair || Date.now() - this.schemaRepairAt < 2_000) return;
    this.schemaRepairAt = Date.now();
    log.warn("cassandra schema missing: creating it again", { keyspace: this.options.keyspace, error: (cause as Error).message });
    // Index rows remembered as written went with the old tables: written again, or the lines
    // written from now on would be stored but never found.
    this.forgetIndex();
    this.schemaRepair = createSchema(this.client, this.options, true)
      .then(() => {
        this.forgetIndex();
        log.info("cassandra schema created again", { keyspace: this.options.keyspace });
      })
      .catch((error) => log.warn("cassandra schema repair failed", { error: (error as Error).message }))
      .finally(() => {
        this.schemaRepair = undefined;
      });
  }

  /** Healthy when every table the store uses answers a cheap read at the store's consistency. */
  async health(): Promise<StoreHealth> {
    if (this.closed) return { healthy: false, detail: "cassandra store is closed" };
    try {
      await Promise.all(
        this.probes.map((q) =>
          this.client.execute(q, [], { prepare: true, consistency: this.consistency, readTimeout: 2_000, isIdempotent: true }),
        ),
      );
      return { healthy: true, detail: "" };
    } catch (error) {
      if (isSchemaMissing(error)) this.repairSchema(error);
      return { healthy: false, detail: `cassandra: ${(error as Error).message}` };
    }
  }

  /**
   * Merges the small chunks of every window this store wrote to since its last compaction, now
   * (tests, bench); the background does the same once a window is quiet.
   */
  async compactNow(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    await this.compactor.compactNow();
  }

  /** Merges the small chunks of the window of one stream that holds timeNs, whoever wrote them (tests). */
  async compactWindow(stream: StreamRef, timeNs: bigint): Promise<CompactionStats> {
    if (this.closed) throw new StoreUnavailableError("cassandra store is closed");
    const names = [storedNamespace(stream), stream.pod, stream.container];
    return this.compactor.compactWindow(names, windowOf(timeNs), this.retention.secondsFor(stream.tenant, stream.namespace));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    // A compaction under way stops before deleting anything (its outputs stay, harmless), or is
    // waited for a bounded time; the client's shutdown fails what it still sends.
    await this.compactor.close();
    await this.recovery;
    await this.client.shutdown();
  }
}

/** A statement of a batch, and what to note once it is written. */
interface Statement {
  query: string;
  params: unknown[];
  done?: () => void;
}

/** A container's lines of one batch, as chunks take them. */
interface ContainerLines {
  /** Stored namespace, pod and container: the partition key's names. */
  names: string[];
  /** The retention of its namespace, seconds (0: forever), and the TTL parameter of its index rows. */
  seconds: number;
  indexTtl: number[];
  lines: IndexedLine[];
}

/** A chunk's worth of a batch: the lines of one container in one window, sorted. */
interface Piece {
  container: string;
  names: string[];
  window: bigint;
  day: number;
  lines: IndexedLine[];
  /** Entry index of each line. */
  at: number[];
  firstNs: bigint;
  lastNs: bigint;
  /** The entry of the latest line (the stream index takes its labels and host). */
  latest: number;
  seconds: number;
}

/** What writing a batch's chunks shares. */
interface ChunkWrite {
  maxBytes: number;
  statedTtl: boolean;
  nowTimeNs: bigint;
  /** When the batch was stored (µs): the chunks' born. */
  born: bigint;
  refuse: (at: number[][], error: unknown) => void;
  rejected: Map<number, string>;
}

/**
 * A container's lines of a batch in the order of a chunk, (time, seq, id), and unique by (time,
 * id) as a chunk must be: two lines of a batch share both only by a collision of their 64-bit ids
 * (the first is kept). Batches mostly come in order: then nothing is sorted.
 */
function chunkOrder(lines: IndexedLine[]): IndexedLine[] {
  for (let i = 1; i < lines.length; i++) {
    if (compareLines(lines[i - 1]!, lines[i]!) >= 0) {
      lines.sort(compareLines);
      break;
    }
  }
  let out: IndexedLine[] | undefined;
  for (let a = 0; a < lines.length;) {
    let b = a + 1;
    while (b < lines.length && lines[b]!.timeNs === lines[a]!.timeNs) b++;
    if (b - a > 1) {
      // A run of one time: its ids are distinct but for a collision.
      const seen = new Set<bigint>();
      for (let k = a; k < b; k++) {
        const l = lines[k]!;
        if (seen.has(l.id)) out ??= lines.slice(0, k);
        else {
          seen.add(l.id);
          out?.push(l);
        }
      }
    } else out?.push(lines[a]!);
    a = b;
  }
  return out ?? lines;
}

/** A run of a batch's entries of one container and one source. */
interface SourceRun {
  e: LogEntry;
  container: string;
  lines: ContainerLines;
  source: ChunkSource;
  /** Entries of the run: they need its source row. */
  at: number[];
  /** Why the run's source row cannot be written (too large), if so: its lines are rejected. */
  tooLarge?: string;
}

/**
 * Cassandra's largest request (native_transport_max_frame_size, 16 MiB by default), less room
 * for the rest of a row.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024;

/** Why a text cannot go to Cassandra in one request, or undefined when it can. */
function tooLargeFor(text: string, maxBytes: number, what: string): string | undefined {
  // Cheap test first: a UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return undefined;
  return `the ${what} of ${bytes} bytes is larger than Cassandra takes in one request (${maxBytes} bytes; native_transport_max_frame_size)`;
}

interface CountPage {
  rows: MinuteCount[];
  more?: () => Promise<CountPage>;
}

/** Days of counts read ahead at once. */
const COUNT_READ_AHEAD = 8;

interface PartitionPage {
  rows: OrderedRow[];
  more?: () => Promise<PartitionPage>;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Bucket start in epoch milliseconds, for the ns timestamp. */
function bucketOf(timeNs: bigint): bigint {
  return ((timeNs / BUCKET_NS) * BUCKET_NS) / 1_000_000n;
}

/** The UTC year of a day since the epoch: the partition of log_stream_days that lists it. */
function yearOf(day: number): number {
  return new Date(day * 86_400_000).getUTCFullYear();
}

/** Days since the epoch of a bucket start (ms). */
function dayOf(bucketMs: bigint): number {
  return Number(bucketMs / 86_400_000n);
}

/** Days since the epoch of a window start (ns): the partition of log_windows that lists it. */
function dayOfWindow(window: bigint): number {
  return Number(window / NS_PER_DAY);
}

/**
 * TTL of a line (of a chunk: its last line): what remains of the retention period since its own
 * time (TWCS and TTL count from the write).
 */
function ttlFor(timeNs: bigint, nowNs: bigint, retention: number): number {
  const age = Number((nowNs - timeNs) / NS_PER_SECOND);
  return Math.max(1, Math.min(retention, retention - Math.max(0, age)));
}

/** TTL of an index row pointing to lines kept `seconds` (0: forever): a day longer than they. */
export function indexTtlFor(seconds: number): number {
  return seconds > 0 ? seconds + DAY_SECONDS : 0;
}

/** TTL of a tenant's log_stream_days rows: a day longer than the longest retention it may have. */
export function streamDayTtlFor(policy: RetentionPolicy, tenant: string): number {
  return indexTtlFor(policy.longestSecondsIn(tenant));
}

/** A frozen map as the driver returns it, as a plain record (keys kept as data). */
function labelsOf(value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object") return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, string>)) {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function toConsistencyKey(name: ConsistencyName): keyof typeof types.consistencies {
  const key = name.toLowerCase().replace(/_(\w)/g, (_m, c: string) => c.toUpperCase());
  return key as keyof typeof types.consistencies;
}

/** TimeWindowCompactionStrategy windows: about 24 over the retention period, in whole hours. */
export function compactionWindowHours(retentionSeconds: number): number {
  if (retentionSeconds <= 0) return 24;
  return Math.max(1, Math.round(retentionSeconds / 3600 / 24));
}

/** What the retention makes of the tables' settings. */
export interface RetentionSchema {
  /** default_time_to_live of log_lines, and of the index tables. */
  linesTtl: number;
  indexTtl: number;
  /** TWCS window of log_lines, hours. */
  windowHours: number;
  /** TWCS drops expired cells of a window's SSTable on its own (lines of mixed TTLs share windows). */
  uncheckedTombstoneCompaction: boolean;
  /** gc_grace_seconds of a new log_lines table. */
  gcGraceSeconds: number;
}

/**
 * The tables' settings for a retention policy.
 *
 * One retention for every namespace (no rules): the tables' default TTLs are the retention (and a
 * day longer for the index), as every line expires alike; TWCS windows are a 24th of it.
 *
 * With rules, lines of different namespaces share the tables with different TTLs, so no table
 * default can be right for all: every statement states its TTL (USING TTL 0 for a namespace kept
 * forever: an explicit 0 is no expiry, whatever the table default) and the defaults are 0, which
 * expires nothing by mistake. The TWCS window follows the longest finite retention (a 24th of it):
 * windows cut for a shorter one would leave the longest-lived lines spread over hundreds of
 * SSTables (30 days in windows cut for 1 day: 720), and TWCS wants a few dozen windows over the
 * data it keeps. Lines of a shorter retention then share windows with longer-lived ones: an
 * SSTable is dropped whole only once all of it has expired, so unchecked tombstone compaction is
 * on, letting a closed window's SSTable purge the expired cells it holds on its own (once over
 * tombstone_threshold, 20% by default). Namespaces kept forever never expire whatever the window.
 */
export function retentionSchema(policy: RetentionPolicy): RetentionSchema {
  const finite = policy.distinctSeconds();
  const shortest = finite[0];
  const gcGraceSeconds = shortest === undefined ? 864000 : Math.min(shortest, 10800);
  if (policy.uniform) {
    const ttl = Math.max(0, policy.defaultSeconds);
    return {
      linesTtl: ttl,
      indexTtl: indexTtlFor(ttl),
      windowHours: compactionWindowHours(ttl),
      uncheckedTombstoneCompaction: false,
      gcGraceSeconds,
    };
  }
  return {
    linesTtl: 0,
    indexTtl: 0,
    windowHours: compactionWindowHours(finite.at(-1) ?? 0),
    uncheckedTombstoneCompaction: policy.expires,
    gcGraceSeconds,
  };
}

function compactionOf(schema: RetentionSchema): string {
  const unchecked = schema.uncheckedTombstoneCompaction ? ", 'unchecked_tombstone_compaction': 'true'" : "";
  return `{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': ${schema.windowHours}${unchecked}}`;
}

/** The tables whose rows expire with the lines: the lines (chunks, and rows from before them) and their counts. */
const DATA_TABLES = ["log_chunks", "log_lines", "log_counts"];

/** The index tables: their rows point to lines and outlive them by a day. */
const INDEX_TABLES = ["log_sources", "log_windows", "log_buckets", "log_days", "log_stream_days", "log_streams"];

export function schemaStatements(
  options: Pick<
    CassandraStoreOptions,
    "keyspace" | "replicationStrategy" | "replicationFactors" | "retentionSeconds" | "retentionRules" | "retention"
  >,
): string[] {
  const ks = options.keyspace;
  const replication =
    options.replicationStrategy === "NetworkTopologyStrategy"
      ? `{'class': 'NetworkTopologyStrategy', ${Object.entries(options.replicationFactors)
          .map(([dc, rf]) => `'${dc}': ${rf}`)
          .join(", ")}}`
      : `{'class': 'SimpleStrategy', 'replication_factor': ${options.replicationFactors.cluster ?? 1}}`;
  const schema = retentionSchema(retentionOf(options));
  const indexTtl = schema.indexTtl;
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replication}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_lines (
      namespace text, pod_name text, container_name text, bucket bigint,
      ts bigint, id bigint, seq bigint, stream text, log text, source bigint, metadata text,
      PRIMARY KEY ((namespace, pod_name, container_name, bucket), ts, id)
    ) WITH CLUSTERING ORDER BY (ts ASC, id ASC)
      AND compaction = ${compactionOf(schema)}
      AND default_time_to_live = ${schema.linesTtl}
      AND gc_grace_seconds = ${schema.gcGraceSeconds}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_sources (
      namespace text, pod_name text, container_name text, source bigint,
      pod_id text, docker_id text, host text, labels frozen<map<text, text>>,
      PRIMARY KEY ((namespace, pod_name, container_name), source)
    ) WITH default_time_to_live = ${indexTtl}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_buckets (
      namespace text, pod_name text, container_name text, day int, bucket bigint,
      PRIMARY KEY ((namespace, pod_name, container_name, day), bucket)
    ) WITH CLUSTERING ORDER BY (bucket ASC)
      AND default_time_to_live = ${indexTtl}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_days (
      namespace text, pod_name text, container_name text, day int,
      PRIMARY KEY ((namespace, pod_name, container_name), day)
    ) WITH CLUSTERING ORDER BY (day ASC)
      AND default_time_to_live = ${indexTtl}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_stream_days (
      tenant text, year int, day int,
      PRIMARY KEY ((tenant, year), day)
    ) WITH CLUSTERING ORDER BY (day ASC)
      AND default_time_to_live = ${indexTtl}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_streams (
      tenant text, day int, namespace text, pod_name text, container_name text,
      first_ts bigint, last_ts bigint, labels frozen<map<text, text>>, host text,
      PRIMARY KEY ((tenant, day), namespace, pod_name, container_name)
    ) WITH default_time_to_live = ${indexTtl}`,
    // Per-minute counts: rows expire with the lines they count, so they take the lines' TTL and
    // compaction. minute: its start, epoch ns; batch_key: derived from the lines a row counts (contentKey).
    `CREATE TABLE IF NOT EXISTS ${ks}.log_counts (
      namespace text, pod_name text, container_name text, day int,
      minute bigint, stream text, level text, batch_key bigint, lines bigint, bytes bigint,
      PRIMARY KEY ((namespace, pod_name, container_name, day), minute, stream, level, batch_key)
    ) WITH CLUSTERING ORDER BY (minute ASC, stream ASC, level ASC, batch_key ASC)
      AND compaction = ${compactionOf(schema)}
      AND default_time_to_live = ${schema.linesTtl}
      AND gc_grace_seconds = ${schema.gcGraceSeconds}`,
    // The lines, compressed: a chunk per container, 5-minute window and write (until compaction
    // merges a window's small ones). window, first_ts, last_ts: epoch ns; chunk: a hash of the
    // lines' times and ids (chunkKey); text_bytes: UTF-8 bytes of its lines' text; born: when its
    // lines were first stored (µs): the copy of a line born first is the one read.
    `CREATE TABLE IF NOT EXISTS ${ks}.log_chunks (
      namespace text, pod_name text, container_name text, window bigint,
      first_ts bigint, chunk bigint, last_ts bigint, lines int, text_bytes int, born bigint, data blob,
      PRIMARY KEY ((namespace, pod_name, container_name, window), first_ts, chunk)
    ) WITH CLUSTERING ORDER BY (first_ts ASC, chunk ASC)
      AND compaction = ${compactionOf(schema)}
      AND default_time_to_live = ${schema.linesTtl}
      AND gc_grace_seconds = ${schema.gcGraceSeconds}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.log_windows (
      namespace text, pod_name text, container_name text, day int, window bigint,
      PRIMARY KEY ((namespace, pod_name, container_name, day), window)
    ) WITH CLUSTERING ORDER BY (window ASC)
      AND default_time_to_live = ${indexTtl}`,
  ];
}

/**
 * Creates what is missing. Existing keyspace and tables are checked first, so that replicas
 * starting together rarely race on a schema change; IF NOT EXISTS covers the rest, and the driver
 * waits for schema agreement after each change. A changed --retention or --retention-rules is
 * applied to the existing tables (default TTLs and compaction windows; rows keep the TTL they
 * were written with).
 */
async function createSchema(client: cassandra.Client, options: CassandraStoreOptions, repair = false): Promise<void> {
  const ks = options.keyspace;
  const [
    createKeyspace,
    createLines,
    createSources,
    createBuckets,
    createDays,
    createStreamDays,
    createStreams,
    createCounts,
    createChunks,
    createWindows,
  ] = schemaStatements(options);
  if (repair) {
    // The node said the keyspace or a table does not exist: what system_schema lists may not be
    // what the node knows (a schema change replayed from the commit log lands in system_schema,
    // not in the node's live schema), so every statement runs: IF NOT EXISTS asks the live one.
    for (const statement of schemaStatements(options)) await client.execute(statement);
    return;
  }
  const keyspace = await client.execute("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks], {
    prepare: true,
  });
  if (keyspace.rows.length === 0) await client.execute(createKeyspace!);
  const tables = await client.execute(
    "SELECT table_name, default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ?",
    [ks],
    { prepare: true },
  );
  const existing = new Map(tables.rows.map((r) => [r.table_name as string, r]));
  if (!existing.has("log_lines")) await client.execute(createLines!);
  else {
    // A lines table from before structured metadata gets the column (existing rows have none).
    const columns = await client.execute(
      "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'log_lines'",
      [ks],
      { prepare: true },
    );
    if (!columns.rows.some((r) => r.column_name === "metadata")) {
      await client.execute(`ALTER TABLE ${ks}.log_lines ADD metadata text`);
    }
  }
  if (!existing.has("log_sources")) await client.execute(createSources!);
  if (!existing.has("log_buckets")) await client.execute(createBuckets!);
  if (!existing.has("log_days")) await client.execute(createDays!);
  if (!existing.has("log_stream_days")) await client.execute(createStreamDays!);
  // Keyspaces from before the counts start counting from now on (their lines are not counted).
  if (!existing.has("log_counts")) await client.execute(createCounts!);
  // Keyspaces from before chunks write chunks from now on, and read log_lines too while it holds rows.
  if (!existing.has("log_chunks")) await client.execute(createChunks!);
  if (!existing.has("log_windows")) await client.execute(createWindows!);
  if (!existing.has("log_streams")) {
    await client.execute(createStreams!);
    // A keyspace from before the stream index: build it from the day and bucket index, once.
    if (existing.has("log_days")) await backfillStreams(client, options);
  }
  const schema = retentionSchema(retentionOf(options));
  for (const table of DATA_TABLES) {
    const data = existing.get(table);
    const compaction = (data?.compaction ?? {}) as Record<string, string>;
    if (
      data &&
      (data.default_time_to_live !== schema.linesTtl ||
        compaction.compaction_window_size !== String(schema.windowHours) ||
        (compaction.unchecked_tombstone_compaction === "true") !== schema.uncheckedTombstoneCompaction)
    ) {
      log.info(`applying the retention to ${table}`, {
        defaultTimeToLive: schema.linesTtl,
        compactionWindowHours: schema.windowHours,
      });
      await client.execute(
        `ALTER TABLE ${ks}.${table} WITH default_time_to_live = ${schema.linesTtl} AND compaction = ${compactionOf(schema)}`,
      );
    }
  }
  for (const table of INDEX_TABLES) {
    const row = existing.get(table);
    if (row && row.default_time_to_live !== schema.indexTtl) {
      await client.execute(`ALTER TABLE ${ks}.${table} WITH default_time_to_live = ${schema.indexTtl}`);
    }
  }
}

/**
 * Whether log_lines holds a row (a keyspace written before chunks): one row read, from wherever
 * the table's first token range holds one. When it cannot be told, reads take it as holding some
 * (they cost a little more, and miss nothing).
 */
async function holdsLegacyLines(client: cassandra.Client, options: CassandraStoreOptions): Promise<boolean> {
  try {
    const rs = await client.execute(`SELECT ts FROM ${options.keyspace}.log_lines LIMIT 1`, [], {
      prepare: true,
      consistency: types.consistencies[toConsistencyKey(options.consistency)],
    });
    return rs.rows.length > 0;
  } catch (error) {
    log.warn("cassandra: could not tell whether log_lines holds lines; reads merge them", {
      error: (error as Error).message,
    });
    return true;
  }
}

/**
 * Fills log_streams for data written before it existed: every (container, day) of log_days, its
 * first and last times to the 30-second bucket, and the labels of one of its sources. One scan of
 * the small index tables; the lines table is not read.
 */
async function backfillStreams(client: cassandra.Client, options: CassandraStoreOptions): Promise<void> {
  const ks = options.keyspace;
  const policy = retentionOf(options);
  let filled = 0;
  let pageState: string | undefined;
  do {
    const page = await client.execute(`SELECT namespace, pod_name, container_name, day FROM ${ks}.log_days`, [], {
      prepare: true,
      fetchSize: 1000,
      pageState,
    });
    pageState = page.pageState ?? undefined;
    for (const row of page.rows) await backfillStreamDay(client, options, policy, row);
    filled += page.rows.length;
  } while (pageState);
  log.info("stream index built from the day index", { keyspace: ks, streamDays: filled });
}

async function backfillStreamDay(
  client: cassandra.Client,
  options: CassandraStoreOptions,
  policy: RetentionPolicy,
  row: cassandra.types.Row,
) {
  const ks = options.keyspace;
  // Data from before the stream index is the default tenant's.
  const ttl = indexTtlFor(policy.secondsFor(DEFAULT_TENANT, row.namespace as string));
  const key = [row.namespace, row.pod_name, row.container_name] as string[];
  const buckets = await client.execute(
    `SELECT min(bucket) AS first, max(bucket) AS last FROM ${ks}.log_buckets WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day = ?`,
    [...key, row.day],
    { prepare: true },
  );
  const first = buckets.rows[0]?.first as bigint | null;
  const last = buckets.rows[0]?.last as bigint | null;
  if (first == null || last == null) return;
  const source = await client.execute(
    `SELECT labels, host FROM ${ks}.log_sources WHERE namespace = ? AND pod_name = ? AND container_name = ? LIMIT 1`,
    key,
    { prepare: true },
  );
  const firstNs = first * 1_000_000n;
  const lastNs = (last + BigInt(BUCKET_SECONDS) * 1000n) * 1_000_000n - 1n;
  const where = [DEFAULT_TENANT, row.day, ...key];
  await client.execute(
    `INSERT INTO ${ks}.log_stream_days (tenant, year, day) VALUES (?, ?, ?) USING TTL ?`,
    [DEFAULT_TENANT, yearOf(row.day as number), row.day, streamDayTtlFor(policy, DEFAULT_TENANT)],
    { prepare: true },
  );
  await client.execute(
    `UPDATE ${ks}.log_streams USING TTL ? AND TIMESTAMP ? SET last_ts = ?, labels = ?, host = ? WHERE tenant = ? AND day = ? AND namespace = ? AND pod_name = ? AND container_name = ?`,
    [ttl, lastNs / 1000n, lastNs, source.rows[0]?.labels ?? {}, source.rows[0]?.host ?? "", ...where],
    { prepare: true },
  );
  await client.execute(
    `UPDATE ${ks}.log_streams USING TTL ? AND TIMESTAMP ? SET first_ts = ? WHERE tenant = ? AND day = ? AND namespace = ? AND pod_name = ? AND container_name = ?`,
    [ttl, STREAM_FIRST_BASE - firstNs / 1000n, firstNs, ...where],
    { prepare: true },
  );
}
