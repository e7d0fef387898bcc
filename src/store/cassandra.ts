// The Cassandra store: schema, prepared statements, batching and the read path, in one file.
//
// Data model (see README, "The Cassandra store"):
//   log_lines   PRIMARY KEY ((namespace, pod_name, container_name, bucket), ts, id)
//               bucket = the 30-second window of ts; ts = epoch ns; id = line identity
//               (lineIds: stream, text, occurrence); seq orders lines with equal ts by arrival
//               (batch arrival, then position); source points into log_sources.
//   log_sources PRIMARY KEY ((namespace, pod_name, container_name), source)
//               pod id, container id, host and labels, once per distinct value.
//   log_buckets PRIMARY KEY ((namespace, pod_name, container_name, day), bucket)
//               which buckets of a day hold lines;
//   log_days    PRIMARY KEY ((namespace, pod_name, container_name), day)
//               which days hold lines. A query reads one log_days partition, the log_buckets
//               partitions of days with lines, then only non-empty buckets: a quiet container's
//               30-day range reads a handful of partitions, not 30 or 86,400.
//   log_counts  PRIMARY KEY ((namespace, pod_name, container_name, day), minute, stream, level, batch_key)
//               lines and bytes per minute, stream and level, one row per batch that wrote some:
//               batch_key derives from the lines the row counts, so a resent batch rewrites its rows
//               (no counters: they are not idempotent); reads sum over batch keys.
// A chatty container (2,000 lines/s) puts at most 60,000 rows in one data partition; a resent
// line hits the same primary key (an upsert), so retries never duplicate.
import cassandra from "cassandra-driver";
import { readFileSync } from "node:fs";
import { retentionOf, type CassandraStoreOptions, type ConsistencyName } from "./cassandra-options.ts";
import { contentKey, CountMerger, kindOf, MinuteTally, utf8Length } from "./counts.ts";
import { log } from "../log.ts";
import { NS_PER_SECOND, nowNs } from "../time.ts";
import {
  compositeKey,
  containerKey,
  lineIds,
  sameContainer,
  sameContainerAndSource,
  sequenceNumbers,
  sourceKey,
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

/** Width of a data partition's time window. At 2,000 lines/s: 60,000 rows. */
export const BUCKET_SECONDS = 30;
const BUCKET_NS = BigInt(BUCKET_SECONDS) * NS_PER_SECOND;
const DAY_SECONDS = 86_400;
/** Upper bounds of one unlogged single-partition batch: rows and bytes of text. */
const BATCH_ROWS = 50;
const BATCH_BYTES = 1024 * 1024;
const INDEX_CACHE_LIMIT = 100_000;
/** Partitions a limited read may read ahead at most (when they hold a line or two each). */
const MAX_LIMITED_READ_AHEAD = 16;
/** Ranges of fewer buckets than this are read without consulting the index (4 minutes). */
const DIRECT_BUCKETS = 8n;

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
  insert: string;
  insertWithTtl: string;
  insertBucket: string;
  insertBucketWithTtl: string;
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

  private constructor(
    private readonly client: cassandra.Client,
    private readonly options: CassandraStoreOptions,
  ) {
    this.consistency = types.consistencies[toConsistencyKey(options.consistency)];
    this.writeOptions = { prepare: true, consistency: this.consistency, isIdempotent: true };
    this.writes = new Semaphore(options.writeConcurrency);
    this.retention = retentionOf(options);
    const ks = options.keyspace;
    const columns = "namespace, pod_name, container_name, bucket, ts, id, seq, stream, log, source, metadata";
    const values = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";
    const countColumns = "namespace, pod_name, container_name, day, minute, stream, level, batch_key, lines, bytes";
    const sourceColumns = "namespace, pod_name, container_name, source, pod_id, docker_id, host, labels";
    this.statements = {
      insert: `INSERT INTO ${ks}.log_lines (${columns}) VALUES (${values})`,
      insertWithTtl: `INSERT INTO ${ks}.log_lines (${columns}) VALUES (${values}) USING TTL ?`,
      insertBucket: `INSERT INTO ${ks}.log_buckets (namespace, pod_name, container_name, day, bucket) VALUES (?, ?, ?, ?, ?)`,
      insertBucketWithTtl: `INSERT INTO ${ks}.log_buckets (namespace, pod_name, container_name, day, bucket) VALUES (?, ?, ?, ?, ?) USING TTL ?`,
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
    try {
      await client.connect();
      await createSchema(client, options);
    } catch (error) {
      await client.shutdown().catch(() => {});
      throw new StoreUnavailableError(`cannot use Cassandra at ${options.nodes.join(",")}: ${(error as Error).message}`, 5, {
        cause: error,
      });
    }
    log.info("cassandra store ready", { nodes: options.nodes, keyspace: options.keyspace });
    return new CassandraStore(client, options);
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
   * Writes a batch: index rows first, then the lines, in unlogged single-partition batches.
   * Resolves with the entries Cassandra refused for good (each tried alone first, so that one
   * bad line never costs its neighbours); rejects with the first failure that may pass.
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
    const partitions = new Map<string, Partition>();
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
    let last: SourceRun | undefined;
    let lastPartition: { bucket: bigint; run: SourceRun; p: Partition } | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const bucket = bucketOf(e.timeNs);
      if (last === undefined || !sameContainerAndSource(last.e, e)) {
        const container = last !== undefined && sameContainer(last.e, e) ? last.container : containerKey(e);
        const key = sourceKey(e);
        const id = BigInt.asIntN(64, Bun.hash.wyhash(key));
        // The run's namespace decides the TTL of its lines; its index rows outlive the
        // longest-lived line they point to by a day.
        const seconds = last !== undefined && sameContainer(last.e, e) ? last.seconds : policy.secondsFor(e.tenant, e.namespace);
        const indexTtl = statedTtl ? [indexTtlFor(seconds)] : [];
        last = {
          e,
          source: int64(id),
          container,
          at: [],
          tooLarge: tooLargeFor(key, maxBytes, "metadata (labels)"),
          seconds,
          indexTtl,
        };
        if (!counted.has(container)) counted.set(container, { names: [storedNamespace(e), e.pod, e.container], seconds });
        if (last.tooLarge === undefined)
          need(compositeKey(container, `s${id}`), seconds > 0, last.at, statedTtl ? s.insertSourceWithTtl : s.insertSource, [
            storedNamespace(e),
            e.pod,
            e.container,
            id,
            e.podId,
            e.dockerId,
            e.host,
            e.labels,
            ...indexTtl,
          ]);
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
      // Consecutive lines of a container mostly share their partition.
      let p = lastPartition?.bucket === bucket && lastPartition.run === last ? lastPartition.p : undefined;
      const pk = p ? "" : compositeKey(last.container, String(bucket));
      p ??= partitions.get(pk);
      if (p === undefined) {
        // Values shared by every row of the partition are encoded once (the driver passes
        // Buffers through): most of a row's encoding cost otherwise.
        const day = dayOf(bucket);
        p = {
          rows: [],
          bytes: [],
          at: [],
          key: [utf8(storedNamespace(e)), utf8(e.pod), utf8(e.container), int64(bucket)],
          container: last.container,
          day,
          firstNs: e.timeNs,
          lastNs: e.timeNs,
          latest: i,
          seconds: last.seconds,
        };
        partitions.set(pk, p);
        const names = [storedNamespace(e), e.pod, e.container];
        const expires = last.seconds > 0;
        need(pk, expires, p.at, statedTtl ? s.insertBucketWithTtl : s.insertBucket, [...names, day, bucket, ...last.indexTtl]);
        need(compositeKey(last.container, `d${day}`), expires, p.at, statedTtl ? s.insertDayWithTtl : s.insertDay, [
          ...names,
          day,
          ...last.indexTtl,
        ]);
      }
      const row: unknown[] = [
        p.key[0],
        p.key[1],
        p.key[2],
        p.key[3],
        e.timeNs,
        ids[i],
        int64(BigInt(seqs[i]!)),
        e.stream === "stdout" ? STDOUT : e.stream === "stderr" ? STDERR : e.stream,
        e.log,
        last.source,
        e.metadata !== undefined && hasKeys(e.metadata) ? JSON.stringify(e.metadata) : undefined,
      ];
      if (statedTtl) row.push(last.seconds > 0 ? ttlFor(e.timeNs, nowTimeNs, last.seconds) : 0);
      p.rows.push(row);
      p.bytes.push(e.log.length);
      p.at.push(i);
      if (e.timeNs < p.firstNs) p.firstNs = e.timeNs;
      if (e.timeNs >= p.lastNs) {
        p.lastNs = e.timeNs;
        p.latest = i;
      }
      lastPartition = { bucket, run: last, p };
    }

    const refuse = (at: number[][], error: unknown) => {
      const detail = `Cassandra refused the line: ${(error as Error).message}`;
      for (const list of at) for (const i of list) if (!rejected.has(i)) rejected.set(i, detail);
    };
    // Index first: a bucket listed without lines costs one empty read, lines without their
    // bucket listed would be invisible. An index row refused for good refuses its lines.
    const indexResults = await Promise.allSettled([
      ...[...index.entries()].map(async ([key, { query, params, at }]) => {
        try {
          await this.writes.run(() => this.client.execute(query, params, this.writeOptions));
          this.rememberIndex(key);
        } catch (error) {
          if (isTransient(error)) throw error;
          refuse(at, error);
        }
      }),
      ...this.streamIndexWrites(entries, partitions).map(async ({ query, params, at, done }) => {
        try {
          await this.writes.run(() => this.client.execute(query, params, this.writeOptions));
          done();
        } catch (error) {
          if (isTransient(error)) throw error;
          refuse(at, error);
        }
      }),
    ]);
    const indexFailure = indexResults.find((r) => r.status === "rejected");
    if (indexFailure) throw (indexFailure as PromiseRejectedResult).reason;

    const insert = statedTtl ? this.statements.insertWithTtl : this.statements.insert;
    const batches: Promise<unknown>[] = [];
    for (const p of partitions.values()) {
      let start = 0;
      while (start < p.rows.length) {
        let end = start;
        let bytes = 0;
        while (end < p.rows.length && end - start < BATCH_ROWS && (end === start || bytes + p.bytes[end]! <= BATCH_BYTES)) {
          bytes += p.bytes[end]!;
          end++;
        }
        const rows: number[] = [];
        for (let k = start; k < end; k++) if (!rejected.has(p.at[k]!)) rows.push(k);
        if (rows.length > 0) batches.push(this.writeRows(insert, p, rows, refuse));
        start = end;
      }
    }
    for (const [query, rows] of this.countWrites(tally, counted, statedTtl, nowTimeNs)) {
      batches.push(
        this.writes
          .run(() =>
            rows.length === 1
              ? this.client.execute(query, rows[0]!, this.writeOptions)
              : this.client.batch(
                  rows.map((params) => ({ query, params })),
                  { ...this.writeOptions, logged: false },
                ),
          )
          .catch((error) => {
            if (isTransient(error)) throw error;
            // Counts Cassandra refuses for good never cost the lines: they are logged and counted.
            log.error("cassandra refused per-minute counts", { error: (error as Error).message });
            this.options.observer?.error("write", error);
          }),
      );
    }
    // Settle every batch before answering, so that a failure is reported only once nothing of
    // this request is still being written.
    const results = await Promise.allSettled(batches);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return [...rejected].map(([index, detail]) => ({ index, detail })).sort((a, b) => a.index - b.index);
  }

  /**
   * The count rows of a batch, per partition (container and day) in unlogged batches of at most
   * BATCH_ROWS: one row per (container, minute, stream, level) the batch has lines of, keyed by
   * what those lines are (contentKey), so that a byte-identical resend writes the same rows with
   * the same values, and adds nothing to what reads sum.
   */
  private countWrites(
    tally: MinuteTally,
    counted: Map<string, { names: string[]; seconds: number }>,
    statedTtl: boolean,
    nowTimeNs: bigint,
  ): [string, unknown[][]][] {
    const query = statedTtl ? this.statements.insertCountWithTtl : this.statements.insertCount;
    const partitions = new Map<string, unknown[][]>();
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
      rows.push(params);
    }
    const out: [string, unknown[][]][] = [];
    for (const rows of partitions.values()) {
      for (let k = 0; k < rows.length; k += BATCH_ROWS) out.push([query, rows.slice(k, k + BATCH_ROWS)]);
    }
    return out;
  }

  /**
   * The stream index rows a batch moves: per container and day, the last time (with the labels
   * and host of the latest line) when later than known, the first time when earlier.
   */
  private streamIndexWrites(
    entries: LogEntry[],
    partitions: Map<string, Partition>,
  ): { query: string; params: unknown[]; at: number[][]; done: () => void }[] {
    const days = new Map<string, { p: Partition; firstNs: bigint; lastNs: bigint; latest: number; at: number[][] }>();
    for (const p of partitions.values()) {
      const key = compositeKey(p.container, String(p.day));
      const d = days.get(key);
      if (d === undefined) {
        days.set(key, { p, firstNs: p.firstNs, lastNs: p.lastNs, latest: p.latest, at: [p.at] });
        continue;
      }
      d.at.push(p.at);
      if (p.firstNs < d.firstNs) d.firstNs = p.firstNs;
      if (p.lastNs >= d.lastNs) {
        d.lastNs = p.lastNs;
        d.latest = p.latest;
      }
    }
    const writes: { query: string; params: unknown[]; at: number[][]; done: () => void }[] = [];
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
        at: d.at,
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
          at: d.at,
          done: () => this.rememberStream(key, { lastNs: d.lastNs }),
        });
      }
      if (known === undefined || d.firstNs < known.firstNs) {
        writes.push({
          query: this.statements.updateStreamFirst,
          params: [ttl, STREAM_FIRST_BASE - d.firstNs / 1000n, d.firstNs, ...where],
          at: d.at,
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

  /** Rows of one partition in one request; when Cassandra refuses them for good, each alone. */
  private async writeRows(
    insert: string,
    p: Partition,
    rows: number[],
    refuse: (at: number[][], error: unknown) => void,
  ): Promise<void> {
    try {
      await this.writes.run(() =>
        rows.length === 1
          ? this.client.execute(insert, p.rows[rows[0]!]!, this.writeOptions)
          : this.client.batch(
              rows.map((k) => ({ query: insert, params: p.rows[k]! })),
              { ...this.writeOptions, logged: false },
            ),
      );
    } catch (error) {
      if (isTransient(error)) throw error;
      if (rows.length === 1) return refuse([[p.at[rows[0]!]!]], error);
      await Promise.all(rows.map((k) => this.writeRows(insert, p, [k], refuse)));
    }
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
    const forward = range.direction === "forward";
    const buckets = this.bucketsIn(stream, startNs, endNs, forward);
    const pageBytes = this.options.pageBytes ?? DEFAULT_PAGE_BYTES;
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
   * The non-empty buckets that may hold lines of a range, in the direction, listed lazily: the
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
    const bucketsOf = (day: number) => {
      const listing = this.readAll(forward ? st.selectBuckets : st.selectBucketsDesc, [...names, day, first, last]);
      listing.catch(() => {}); // observed when its turn comes
      return listing;
    };
    let next = days.length > 0 ? bucketsOf(days[0]!) : undefined;
    for (let i = 0; i < days.length; i++) {
      const rows = await next!;
      next = i + 1 < days.length ? bucketsOf(days[i + 1]!) : undefined;
      for (const r of rows) yield r.bucket as bigint;
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
        if (metadata != null) row.metadata = parseMetadata(metadata);
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.client.shutdown();
  }
}

/** A data partition's rows of one batch, with the entries they come from. */
interface Partition {
  rows: unknown[][];
  /** Text length of each row, for batch sizes. */
  bytes: number[];
  /** Entry index of each row. */
  at: number[];
  /** The partition key, encoded once. */
  key: Buffer[];
  /** Its container (containerKey) and day, and its rows' first and last times and latest entry. */
  container: string;
  day: number;
  firstNs: bigint;
  lastNs: bigint;
  latest: number;
  /** The retention of its namespace, seconds (0: forever). */
  seconds: number;
}

/** A run of a batch's entries of one container and one source. */
interface SourceRun {
  e: LogEntry;
  source: Buffer;
  container: string;
  /** Entries of the run: they need its source row. */
  at: number[];
  /** Why the run's source row cannot be written (too large), if so: its lines are rejected. */
  tooLarge?: string;
  /** The retention of its namespace, seconds (0: forever), and the TTL parameter of its index rows. */
  seconds: number;
  indexTtl: number[];
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

/** Parses stored metadata (JSON), keys kept as data ("__proto__" included). */
function parseMetadata(text: string): Record<string, string> {
  const parsed = JSON.parse(text) as unknown;
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
}

const STDOUT = Buffer.from("stdout");
const STDERR = Buffer.from("stderr");

function utf8(s: string): Buffer {
  return Buffer.from(s, "utf8");
}

/** A CQL bigint, encoded. */
function int64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(v);
  return b;
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

/** TTL of a line: what remains of the retention period since its own time (TWCS and TTL count from the write). */
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

/** The tables whose rows expire with the lines: the lines and their per-minute counts. */
const DATA_TABLES = ["log_lines", "log_counts"];

/** The index tables: their rows point to lines and outlive them by a day. */
const INDEX_TABLES = ["log_sources", "log_buckets", "log_days", "log_stream_days", "log_streams"];

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
  const [createKeyspace, createLines, createSources, createBuckets, createDays, createStreamDays, createStreams, createCounts] =
    schemaStatements(options);
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
