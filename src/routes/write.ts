// POST /write (ingest) and GET /write (health probe).
import { Elysia, t } from "elysia";
import { Lease, type ByteBudget } from "../ingest/budget.ts";
import { BUDGET_WAIT_MS, decodeWriteRequest, type IngestBatch, type IngestOptions } from "../ingest/ingest.ts";
import { log } from "../log.ts";
import { collectAfterLargeBody } from "../memory.ts";
import type { Metrics } from "../metrics.ts";
import type { WriteNotifier } from "../query/follow.ts";
import { StoreBusyError, StoreUnavailableError, type LogStore, type WriteResult as StoreWriteResult } from "../store/store.ts";
import type { AccessControl, Identity } from "../access/access.ts";
import { tenantLabel } from "../access/tenant.ts";
import { detectLevel } from "../loki/logql/level.ts";
import { ErrorBody } from "./http.ts";

/** How many rejection reasons a response lists; the counts cover all of them. */
const MAX_LISTED_ERRORS = 10;

export const WriteResult = t.Object({
  accepted: t.Integer({ description: "Records stored, new or sent again byte for byte (a retry)." }),
  rejected: t.Integer({ description: "Records refused; the rest of the batch was stored." }),
  deduplicated: t.Optional(
    t.Integer({
      description:
        "Records that met a line another batch had stored with the same container, time, stream and text, " +
        "taken for a resend and stored once (embedded store only: Cassandra cannot tell without a read).",
    }),
  ),
  errors: t.Optional(
    t.Array(
      t.Object({
        index: t.Integer({ description: "Position of the record in the body (-1: an unreadable part)." }),
        reason: t.String(),
        detail: t.String(),
      }),
      { description: `The first ${MAX_LISTED_ERRORS} rejections.` },
    ),
  ),
});

const writeResponses = {
  200: WriteResult,
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  408: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};

export const HealthStatus = t.Object({
  healthy: t.Boolean(),
  detail: t.String({ description: "Why the store is not usable; empty when healthy." }),
});

const recordExample = {
  date: 1525349097.094408,
  kubernetes: {
    docker_id: "e8b89cc4e292827b2f521c4c7d7b8807cf72023565b9ac5f89f8186420325d74",
    labels: { name: "weave-net" },
    host: "master1",
    pod_name: "weave-net-5mfwh",
    container_name: "weave",
    pod_id: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
    namespace_name: "kube-system",
  },
  log: "INFO: 2018/05/03 12:04:57.094154 Discovered remote MAC",
  stream: "stderr",
  time: "2018-05-03T12:04:57.094408152Z",
};

export interface WriteRouteOptions extends IngestOptions {
  access: AccessControl;
  budget: ByteBudget;
  /** Told when lines are stored: followers read them at once rather than at their next poll. */
  notifier?: WriteNotifier;
}

/**
 * The steps every ingest route shares around its own decoding: the request's lease on the
 * in-flight budget, the byte metrics, the tenant's ingest rate, the timed store write, the
 * tenant's metrics and the followers' wake-up. `render` makes the answer while the lease is held.
 */
export async function ingestBatch<T>(
  request: Request,
  identity: Identity,
  store: LogStore,
  metrics: Metrics,
  options: WriteRouteOptions,
  decode: (lease: Lease) => Promise<IngestBatch>,
  render: (decoded: IngestBatch, stored: StoreWriteResult) => T,
): Promise<T> {
  const lease = new Lease(options.budget, BUDGET_WAIT_MS);
  let decodedBytes = 0;
  try {
    const decoded = await decode(lease);
    decodedBytes = decoded.decodedBytes;
    collectAfterLargeBody(decodedBytes);
    const encoding = request.headers.get("content-encoding") || "identity";
    metrics.wireBytes.inc({ encoding: encoding.length > 16 ? "other" : encoding.toLowerCase() }, decoded.wireBytes);
    metrics.decodedBytes.inc({ format: decoded.format }, decoded.decodedBytes);
    const lineBytes = bytesOf(decoded.entries);
    // The tenant's ingest rate: a refused batch costs nothing and comes again (429).
    const tenant = tenantLabel(identity.tenant);
    try {
      options.access.admitIngest(identity.tenant, decoded.entries.length, lineBytes);
    } catch (error) {
      metrics.tenantLimited.inc({ tenant: metrics.tenantLabels.of(tenant) });
      throw error;
    }
    // The severity the per-minute counts are kept by (Loki's detected_level).
    for (const e of decoded.entries) e.level ??= detectLevel(e.log, e.labels, e.metadata);
    const stored = await writeEntries(store, metrics, decoded);
    const label = metrics.tenantLabels.of(tenant);
    metrics.tenantLines.inc({ tenant: label }, decoded.entries.length - stored.rejected.length - stored.deduplicated);
    metrics.tenantBytes.inc({ tenant: label }, lineBytes);
    if (decoded.entries.length > 0) options.notifier?.notify();
    return render(decoded, stored);
  } finally {
    lease.release();
    collectAfterLargeBody(decodedBytes);
  }
}

export function writeRoutes(store: LogStore, metrics: Metrics, options: WriteRouteOptions) {
  const { access } = options;
  const ingest = (request: Request, identity: Identity) =>
    ingestBatch(
      request,
      identity,
      store,
      metrics,
      options,
      (lease) => decodeWriteRequest(request, options, identity.tenant, lease),
      (decoded, stored) => writeSummary(store, metrics, decoded, stored),
    );

  return (
    new Elysia({ name: "routes.write" })
      .use(access.plugin())
      .get(
        "/write",
        async ({ status }) => {
          const health = await store.health().catch((e: Error) => ({ healthy: false, detail: e.message }));
          return health.healthy ? health : status(503, health);
        },
        {
          access: "protect-all",
          detail: {
            summary: "Health probe",
            description: "200 with healthy: true when the store takes writes and queries; 503 with a detail otherwise.",
            tags: ["ingest"],
          },
          response: { 200: HealthStatus, 401: ErrorBody, 503: HealthStatus },
        },
      )
      .post("/write", ({ request, identity }) => ingest(request, identity), {
        access: "write",
        parse: "none",
        detail: {
          summary: "Ingest a batch of Fluent Bit records",
          description:
            "Takes what Fluent Bit's http output sends: Format json (an array), json_lines, json_stream or msgpack, " +
            "with Compress gzip, zstd, snappy, deflate or none. Valid records are stored even when others are " +
            "rejected (200 with counts). 400 only when the body cannot be decoded at all; 413 over the size caps; " +
            "415 for an unknown Content-Encoding; 429 with Retry-After when too many bytes are being ingested at " +
            "once; 503 with Retry-After when the store cannot take the batch now. A batch sent again (a retry) is " +
            "stored once.",
          tags: ["ingest"],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { type: "array", items: { type: "object" } }, example: [recordExample] },
              "application/x-ndjson": { schema: { type: "string" } },
              "application/msgpack": { schema: { type: "string", format: "binary" } },
            },
          },
        },
        response: writeResponses,
      })
      // Fluent Bit's http output posts to "/" unless URI is set, and drops a batch answered 404:
      // accept it there too rather than lose logs to a missing line of configuration.
      .post("/", ({ request, identity }) => ingest(request, identity), {
        access: "write",
        parse: "none",
        detail: { summary: "Alias of POST /write (Fluent Bit's default URI)", tags: ["ingest"] },
        response: writeResponses,
      })
  );
}

/** The bytes of the lines' text (UTF-8), as tenants' ingest rates count them. */
function bytesOf(entries: readonly { log: string }[]): number {
  let bytes = 0;
  for (const e of entries) bytes += Buffer.byteLength(e.log);
  return bytes;
}

/** Stores the entries, timing the store; store trouble propagates to the one error mapping. */
async function writeEntries(store: LogStore, metrics: Metrics, decoded: IngestBatch): Promise<StoreWriteResult> {
  const started = performance.now();
  try {
    const result = await store.write(decoded.entries);
    metrics.storeWriteDuration.observe({ store: store.kind, result: "ok" }, (performance.now() - started) / 1000);
    return result;
  } catch (error) {
    const result = error instanceof StoreUnavailableError ? "unavailable" : error instanceof StoreBusyError ? "busy" : "error";
    metrics.storeWriteDuration.observe({ store: store.kind, result }, (performance.now() - started) / 1000);
    log.error("store write failed", { records: decoded.entries.length, error });
    throw error;
  }
}

/**
 * The write answer: counts, and the first reasons of what was refused (counted in the metrics
 * and logged). Store rejections are merged into the batch's rejections, by record.
 */
export function writeSummary(store: LogStore, metrics: Metrics, decoded: IngestBatch, stored: StoreWriteResult) {
  const rejections = decoded.rejections;
  if (stored.rejected.length > 0) {
    // Store rejections name entries; the answer names records: entries are the records, in
    // order, less those refused while decoding.
    const refusedRecords = new Set(rejections.map((r) => r.index));
    const recordOf: number[] = [];
    for (let record = 0; recordOf.length < decoded.entries.length; record++)
      if (!refusedRecords.has(record)) recordOf.push(record);
    for (const r of stored.rejected) rejections.push({ index: recordOf[r.index]!, reason: "store_rejected", detail: r.detail });
    rejections.sort((a, b) => a.index - b.index);
  }
  const accepted = decoded.entries.length - stored.rejected.length - stored.deduplicated;
  metrics.recordsAccepted.inc({ format: decoded.format }, accepted);
  if (stored.deduplicated > 0) metrics.recordsDeduplicated.inc({ format: decoded.format }, stored.deduplicated);
  const counts = store.countsDeduplicated
    ? { accepted, rejected: rejections.length, deduplicated: stored.deduplicated }
    : { accepted, rejected: rejections.length };
  if (rejections.length === 0) return counts;
  for (const r of rejections) metrics.recordsRejected.inc({ reason: r.reason });
  log.warn("records rejected", { accepted, rejected: rejections.length, first: rejections.slice(0, 3) });
  return { ...counts, errors: rejections.slice(0, MAX_LISTED_ERRORS) };
}
