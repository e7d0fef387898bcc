// Prometheus metrics. One registry per app (tests build many apps). prom-client's default
// metrics are partly wrong under Bun (event-loop lag, GC, V8 heap spaces), so the process
// metrics here are collected directly from the process and /proc.
import { heapStats } from "bun:jsc";
import { readdirSync, readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { StoreObserver } from "./store/store.ts";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"method" | "route" | "status_code">;
  httpDuration: Histogram<"method" | "route" | "status_code">;
  recordsAccepted: Counter<"format">;
  recordsRejected: Counter<"reason">;
  recordsDeduplicated: Counter<"format">;
  storeErrors: Counter<"store" | "operation">;
  wireBytes: Counter<"encoding">;
  decodedBytes: Counter<"format">;
  storeWriteDuration: Histogram<"store" | "result">;
  queryRows: Counter<"store">;
  /** Lines stored per tenant (at most MAX_TENANT_LABELS tenants, the rest as "(other)"). */
  tenantLines: Counter<"tenant">;
  tenantBytes: Counter<"tenant">;
  tenantLimited: Counter<"tenant">;
  tenantLabels: TenantLabels;
}

/** Tenants given their own label value; later ones share "(other)", so a label never grows without end. */
export const MAX_TENANT_LABELS = 100;

export class TenantLabels {
  private readonly known = new Set<string>();
  of(tenant: string): string {
    if (this.known.has(tenant)) return tenant;
    if (this.known.size >= MAX_TENANT_LABELS) return "(other)";
    this.known.add(tenant);
    return tenant;
  }
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const metrics: Metrics = {
    registry,
    httpRequests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests by method, route pattern and status code.",
      labelNames: ["method", "route", "status_code"],
      registers,
    }),
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from request to response headers, by method, route pattern and status code.",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    recordsAccepted: new Counter({
      name: "logserver_ingest_records_accepted_total",
      help: "Log records stored, by wire format.",
      labelNames: ["format"],
      registers,
    }),
    recordsRejected: new Counter({
      name: "logserver_ingest_records_rejected_total",
      help: "Log records refused, by reason (the rest of their batch was stored).",
      labelNames: ["reason"],
      registers,
    }),
    recordsDeduplicated: new Counter({
      name: "logserver_ingest_records_deduplicated_total",
      help: "Log records that met a line another batch had stored (same container, time, stream and text), taken for a resend and stored once, by wire format.",
      labelNames: ["format"],
      registers,
    }),
    storeErrors: new Counter({
      name: "logserver_store_errors_total",
      help: "Store failures the server handled and went on from (retention sweeps, queries cut mid-stream, health checks), by store and operation.",
      labelNames: ["store", "operation"],
      registers,
    }),
    wireBytes: new Counter({
      name: "logserver_ingest_wire_bytes_total",
      help: "Request body bytes received on POST /write, as sent (compressed), by Content-Encoding.",
      labelNames: ["encoding"],
      registers,
    }),
    decodedBytes: new Counter({
      name: "logserver_ingest_decoded_bytes_total",
      help: "Request body bytes after decompression, by wire format.",
      labelNames: ["format"],
      registers,
    }),
    storeWriteDuration: new Histogram({
      name: "logserver_store_write_duration_seconds",
      help: "Time to store one accepted batch, by store and result (ok, unavailable, busy, error).",
      labelNames: ["store", "result"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queryRows: new Counter({
      name: "logserver_query_rows_total",
      help: "Rows returned by GET /query, by store.",
      labelNames: ["store"],
      registers,
    }),
    tenantLines: new Counter({
      name: "logserver_tenant_ingest_lines_total",
      help: `Lines stored, by tenant ("(default)" without tenancy; after ${MAX_TENANT_LABELS} tenants the rest count as "(other)").`,
      labelNames: ["tenant"],
      registers,
    }),
    tenantBytes: new Counter({
      name: "logserver_tenant_ingest_bytes_total",
      help: "Bytes of log text (UTF-8) received in accepted batches, by tenant (as the ingest rate limits count them).",
      labelNames: ["tenant"],
      registers,
    }),
    tenantLimited: new Counter({
      name: "logserver_tenant_ingest_limited_total",
      help: "Batches refused with 429 because their tenant was over its ingest rate, by tenant.",
      labelNames: ["tenant"],
      registers,
    }),
    tenantLabels: new TenantLabels(),
  };
  registerProcessMetrics(registry);
  return metrics;
}

/** A store observer that counts the failures a store handles itself. */
export function storeObserver(metrics: Metrics, store: string): StoreObserver {
  return { error: (operation) => metrics.storeErrors.inc({ store, operation }) };
}

function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers,
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new Counter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers,
    collect() {
      this.reset();
      this.inc(process.cpuUsage().user / 1e6);
    },
  });
  new Counter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers,
    collect() {
      this.reset();
      this.inc(process.cpuUsage().system / 1e6);
    },
  });
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(Math.round(performance.timeOrigin / 1000));
    },
  });
  if (process.platform === "linux") {
    new Gauge({
      name: "process_open_fds",
      help: "Number of open file descriptors.",
      registers,
      collect() {
        try {
          this.set(readdirSync("/proc/self/fd").length - 1);
        } catch {
          /* /proc unavailable: leave the gauge as it was */
        }
      },
    });
    new Gauge({
      name: "process_max_fds",
      help: "Maximum number of open file descriptors.",
      registers,
      collect() {
        try {
          const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
          if (m) this.set(Number(m[1]));
        } catch {
          /* /proc unavailable */
        }
      },
    });
  }
  new Gauge({
    name: "bun_js_heap_size_bytes",
    help: "JavaScriptCore heap size in bytes (bun:jsc heapStats).",
    registers,
    collect() {
      this.set(heapStats().heapSize);
    },
  });
  new Gauge({
    name: "bun_js_heap_capacity_bytes",
    help: "JavaScriptCore heap capacity in bytes (bun:jsc heapStats).",
    registers,
    collect() {
      this.set(heapStats().heapCapacity);
    },
  });
}
