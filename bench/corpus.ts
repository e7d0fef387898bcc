// A deterministic corpus of realistic Kubernetes container logs, for the disk and compression
// benchmarks (bench/disk.ts) and for anyone who needs lines that look like a cluster's:
//
//   bun bench/corpus.ts [--lines 100000] [--corpus realistic|random] [--seed 1]
//                       [--format ndjson|fluentbit] [--out FILE] [--batch 1000] [--flush 10]
//                       [--join-stack-traces] [--start 2026-11-24T08:00:00Z] [--stats]
//
//   ndjson     one line per log line: {"time","namespace","pod","container","stream","log"}
//   fluentbit  one line per request body, as Fluent Bit's http output sends it with Format json:
//              a JSON array of records {"date","log","stream","time","kubernetes"} of ONE container
//              (one tail file = one tag = one chunk), cut at `--batch` lines and at every flush
//              tick of `--flush` seconds of log time (all pending containers are sent at a tick)
//   --stats    the mix on stderr: lines, share, mean raw bytes per line, per format and namespace
//
// As a module: `new Corpus({ kind, seed })`, then `corpus.lines(n)` (a generator of CorpusLine in
// global time order, with the container's index, epoch-ns time and stream) and `batches(...)`
// (Fluent Bit-shaped request batches of one container); `fluentBitBody` builds a body.
// The same seed gives the same lines, byte for byte, whatever the caller does with them:
// every container draws from its own PRNG (mulberry32 seeded from the seed and its index).
//
// The mix (realistic). 21 namespaces, 6 nodes, 32 workloads, 62 pods, 80 containers. Rates are events
// per second of log time (Poisson), an event being one line, or a whole stack trace; together
// about 640 lines/s, so 2,000,000 lines cover about 52 minutes of log time. Per container:
//   ingress-nginx controller (2 pods)   nginx access logs (ingress-nginx upstreaminfo format):
//                                       client IPs from 5,000 (Zipf-skewed), 16 user agents,
//                                       paths with ids/queries/hashed assets, weighted statuses,
//                                       log-normal durations, 32-hex request ids; 60/s each
//   istio-proxy sidecars (27)           Envoy access logs (Istio's default TEXT format) with
//                                       x-request-id UUIDs, upstream IPs and ports; ~0.7x their app
//   Go services, JSON (zap)             catalog, auth (Node pino-like), inventory, etcd, argocd-server:
//                                       levels info/debug/warn/error, messages from ~20 templates,
//                                       request/trace/span ids, UUIDs, user and order ids,
//                                       durations, nested objects ("http", "user", "cart"), an
//                                       escaped "stacktrace" field on some errors
//   Go services, slog text              orders, shipping-api, with rare goroutine panic dumps (stderr)
//   Java (Spring Boot 3)                checkout, payments, search, data-pipeline: logback lines,
//                                       and exception stack traces of 25-70 frames with "Caused by"
//                                       and "... N common frames omitted" (~1 event in 150)
//   Python                              notifications (Celery), shipping worker, ml-serving
//                                       (gunicorn access + logging), analytics: logging lines on
//                                       stderr, Tracebacks (~1 event in 120)
//   klog (stderr)                       kube-controller-manager, kube-scheduler, kube-proxy (6),
//                                       cert-manager, cainjector: "I1124 08:00:00.123456       1
//                                       controller.go:123] ..." structured and unstructured
//   logfmt                              prometheus, alertmanager, grafana, node-exporter (6),
//                                       argocd controller/repo-server (logrus)
//   others                              coredns query log (2 pods, 8/s), istiod, fluent-bit (6)
//   frontend / default                  nginx access logs of static sites
// A handful of containers make most of the volume (ingress, sidecars, busy APIs), most are quiet
// (0.01-1 line/s), as in a real cluster.
//
// Stack traces are sent one record per line, as Fluent Bit sends them by default (tail input
// with the cri/docker parser and no multiline filter): each line of a trace is its own record, a
// few microseconds after the previous one. `--join-stack-traces` (joinStackTraces) sends a trace
// as one record with "\n" between its lines instead, as the multiline filter (java, go, python
// parsers) would. Lines carry no trailing newline (the CRI parser strips it).
//
// random: the same containers, times, streams and line lengths as the realistic corpus of the
// same seed, but every line is random printable ASCII (0x20-0x7e) of that length: the worst case
// for any compression.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";

// ---------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: small, fast and good enough for test data; deterministic for a seed. */
export class Rng {
  private s: number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.s = seed >>> 0;
    for (let i = 0; i < 4; i++) this.u32();
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo));
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.float() * a.length)]!;
  }
  /** Skewed towards the first elements: a few values are most of the picks. */
  zipf<T>(a: readonly T[], skew = 2.5): T {
    return a[Math.floor(a.length * this.float() ** skew)]!;
  }
  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(a: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of a) total += w;
    let r = this.float() * total;
    for (const [w, v] of a) if ((r -= w) < 0) return v;
    return a[a.length - 1]![1];
  }
  hex(n: number): string {
    let s = "";
    while (s.length < n) s += this.u32().toString(16).padStart(8, "0");
    return s.slice(0, n);
  }
  alnum(n: number, alphabet = "bcdfghjklmnpqrstvwxz2456789"): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.float() * alphabet.length)];
    return s;
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[this.int(0, 4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Log-normal around `median` (durations, sizes). */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
  /** Exponential gap (seconds) of a Poisson process of `rate` per second. */
  exp(rate: number): number {
    return -Math.log(1 - this.float()) / rate;
  }
}

function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p & 0xffff), 16777619);
    h = Math.imul(h ^ (p >>> 16), 16777619);
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Time formats. Times are epoch microseconds (numbers: exact up to year 2255).

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad = (n: number, w: number) => String(n).padStart(w, "0");

let cachedSecond = Number.NaN;
let cached = { Y: "", M: "", D: "", h: "", m: "", s: "", mon: "" };
function partsOf(us: number) {
  const second = Math.floor(us / 1e6);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedSecond = second;
    cached = {
      Y: String(d.getUTCFullYear()),
      M: p2(d.getUTCMonth() + 1),
      D: p2(d.getUTCDate()),
      h: p2(d.getUTCHours()),
      m: p2(d.getUTCMinutes()),
      s: p2(d.getUTCSeconds()),
      mon: MONTHS[d.getUTCMonth()]!,
    };
  }
  return cached;
}
const frac = (us: number, digits: 3 | 6) => (digits === 3 ? pad(Math.floor((us % 1e6) / 1000), 3) : pad(Math.floor(us % 1e6), 6));

export const timeFormat = {
  /** 2026-11-24T08:00:00.123Z (or 6 digits) */
  iso(us: number, digits: 3 | 6 = 3): string {
    const t = partsOf(us);
    return `${t.Y}-${t.M}-${t.D}T${t.h}:${t.m}:${t.s}.${frac(us, digits)}Z`;
  },
  /** 24/Nov/2026:08:00:00 +0000 (nginx $time_local) */
  nginx(us: number): string {
    const t = partsOf(us);
    return `${t.D}/${t.mon}/${t.Y}:${t.h}:${t.m}:${t.s} +0000`;
  },
  /** 1124 08:00:00.123456 (klog, after the level letter) */
  klog(us: number): string {
    const t = partsOf(us);
    return `${t.M}${t.D} ${t.h}:${t.m}:${t.s}.${frac(us, 6)}`;
  },
  /** 2026-11-24 08:00:00,123 (Python logging) */
  python(us: number): string {
    const t = partsOf(us);
    return `${t.Y}-${t.M}-${t.D} ${t.h}:${t.m}:${t.s},${frac(us, 3)}`;
  },
  /** 2026/11/24 08:00:00 (Fluent Bit) */
  slash(us: number): string {
    const t = partsOf(us);
    return `${t.Y}/${t.M}/${t.D} ${t.h}:${t.m}:${t.s}`;
  },
};

/** RFC 3339 with nanoseconds of an epoch-ns time, as the container runtime writes it. */
export function rfc3339Nano(ns: bigint): string {
  const us = Number(ns / 1000n);
  const t = partsOf(us);
  return `${t.Y}-${t.M}-${t.D}T${t.h}:${t.m}:${t.s}.${pad(Number(ns % 1_000_000_000n), 9)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Shared vocabularies (the same for every seed: they are the "language" of the cluster).

const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
  "okhttp/4.12.0",
  "Go-http-client/1.1",
  "Go-http-client/2.0",
  "python-requests/2.32.3",
  "curl/8.5.0",
  "kube-probe/1.31",
  "Prometheus/2.55.1",
  "Googlebot/2.1 (+http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  "axios/1.7.7",
];
const WORDS = [
  "shoes",
  "jacket",
  "laptop",
  "coffee",
  "headphones",
  "desk",
  "lamp",
  "backpack",
  "watch",
  "camera",
  "phone",
  "charger",
  "bottle",
  "tent",
  "bike",
  "helmet",
  "gloves",
  "scarf",
  "mug",
  "keyboard",
  "monitor",
  "chair",
  "sofa",
  "pillow",
  "blanket",
  "book",
  "pen",
  "notebook",
  "table",
  "mirror",
];
const CATEGORIES = ["electronics", "home", "garden", "sports", "fashion", "books", "toys", "beauty", "grocery", "auto"];
const CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK"];
const REFERERS = [
  "-",
  "-",
  "-",
  "https://shop.example.com/",
  "https://shop.example.com/cart",
  "https://www.google.com/",
  "https://shop.example.com/search",
];
const HTTP_STATUSES: readonly (readonly [number, number])[] = [
  [820, 200],
  [40, 201],
  [25, 204],
  [10, 301],
  [15, 302],
  [35, 304],
  [12, 400],
  [10, 401],
  [6, 403],
  [30, 404],
  [4, 429],
  [5, 499],
  [5, 500],
  [3, 502],
  [4, 503],
  [2, 504],
];
const METHODS: readonly (readonly [number, string])[] = [
  [70, "GET"],
  [20, "POST"],
  [5, "PUT"],
  [3, "DELETE"],
  [2, "PATCH"],
];

// ---------------------------------------------------------------------------------------------
// Containers

export type LineFormat =
  | "nginx"
  | "envoy"
  | "json"
  | "klog"
  | "java"
  | "goslog"
  | "python"
  | "celery"
  | "gunicorn"
  | "logfmt"
  | "coredns"
  | "istiod"
  | "fluentbit";

export interface CorpusContainer {
  index: number;
  namespace: string;
  pod: string;
  container: string;
  podId: string;
  dockerId: string;
  host: string;
  image: string;
  labels: Record<string, string>;
  /** "file": the lines of a log file given (kind files). */
  format: LineFormat | "file";
  /** Events per second of log time. */
  rate: number;
  /** The service the container belongs to (loggers, paths, upstreams). */
  service: string;
}

interface ContainerSpec {
  name: string;
  format: LineFormat;
  rate: number;
  image: string;
}
interface Workload {
  namespace: string;
  name: string;
  kind: "deployment" | "statefulset" | "daemonset" | "static";
  replicas: number;
  containers: ContainerSpec[];
}

const NODES = [
  "ip-10-0-1-23.eu-west-1.compute.internal",
  "ip-10-0-1-87.eu-west-1.compute.internal",
  "ip-10-0-2-14.eu-west-1.compute.internal",
  "ip-10-0-2-201.eu-west-1.compute.internal",
  "ip-10-0-3-45.eu-west-1.compute.internal",
  "ip-10-0-3-160.eu-west-1.compute.internal",
];

const sidecar = (rate: number): ContainerSpec => ({
  name: "istio-proxy",
  format: "envoy",
  rate,
  image: "docker.io/istio/proxyv2:1.24.0",
});
const app = (name: string, format: LineFormat, rate: number, image: string, withSidecar = true): ContainerSpec[] => [
  { name, format, rate, image },
  ...(withSidecar ? [sidecar(+(rate * 0.7).toFixed(2))] : []),
];

/** The workloads of the cluster: 20 namespaces. */
const WORKLOADS: Workload[] = [
  // platform
  {
    namespace: "kube-system",
    name: "kube-controller-manager",
    kind: "static",
    replicas: 1,
    containers: [
      { name: "kube-controller-manager", format: "klog", rate: 2, image: "registry.k8s.io/kube-controller-manager:v1.31.2" },
    ],
  },
  {
    namespace: "kube-system",
    name: "kube-scheduler",
    kind: "static",
    replicas: 1,
    containers: [{ name: "kube-scheduler", format: "klog", rate: 0.5, image: "registry.k8s.io/kube-scheduler:v1.31.2" }],
  },
  {
    namespace: "kube-system",
    name: "etcd",
    kind: "static",
    replicas: 1,
    containers: [{ name: "etcd", format: "json", rate: 1, image: "registry.k8s.io/etcd:3.5.15-0" }],
  },
  {
    namespace: "kube-system",
    name: "kube-proxy",
    kind: "daemonset",
    replicas: 6,
    containers: [{ name: "kube-proxy", format: "klog", rate: 0.2, image: "registry.k8s.io/kube-proxy:v1.31.2" }],
  },
  {
    namespace: "kube-system",
    name: "coredns",
    kind: "deployment",
    replicas: 2,
    containers: [{ name: "coredns", format: "coredns", rate: 8, image: "registry.k8s.io/coredns/coredns:v1.11.3" }],
  },
  {
    namespace: "ingress-nginx",
    name: "ingress-nginx-controller",
    kind: "deployment",
    replicas: 2,
    containers: [{ name: "controller", format: "nginx", rate: 60, image: "registry.k8s.io/ingress-nginx/controller:v1.11.3" }],
  },
  {
    namespace: "istio-system",
    name: "istiod",
    kind: "deployment",
    replicas: 1,
    containers: [{ name: "discovery", format: "istiod", rate: 1.5, image: "docker.io/istio/pilot:1.24.0" }],
  },
  {
    namespace: "monitoring",
    name: "prometheus-k8s",
    kind: "statefulset",
    replicas: 1,
    containers: [{ name: "prometheus", format: "logfmt", rate: 0.3, image: "quay.io/prometheus/prometheus:v2.55.1" }],
  },
  {
    namespace: "monitoring",
    name: "alertmanager-main",
    kind: "statefulset",
    replicas: 1,
    containers: [{ name: "alertmanager", format: "logfmt", rate: 0.1, image: "quay.io/prometheus/alertmanager:v0.27.0" }],
  },
  {
    namespace: "monitoring",
    name: "grafana",
    kind: "deployment",
    replicas: 1,
    containers: [{ name: "grafana", format: "logfmt", rate: 3, image: "docker.io/grafana/grafana:11.3.0" }],
  },
  {
    namespace: "monitoring",
    name: "node-exporter",
    kind: "daemonset",
    replicas: 6,
    containers: [{ name: "node-exporter", format: "logfmt", rate: 0.01, image: "quay.io/prometheus/node-exporter:v1.8.2" }],
  },
  {
    namespace: "logging",
    name: "fluent-bit",
    kind: "daemonset",
    replicas: 6,
    containers: [{ name: "fluent-bit", format: "fluentbit", rate: 0.2, image: "cr.fluentbit.io/fluent/fluent-bit:3.2.1" }],
  },
  {
    namespace: "cert-manager",
    name: "cert-manager",
    kind: "deployment",
    replicas: 1,
    containers: [
      { name: "cert-manager-controller", format: "klog", rate: 0.2, image: "quay.io/jetstack/cert-manager-controller:v1.16.1" },
    ],
  },
  {
    namespace: "cert-manager",
    name: "cert-manager-cainjector",
    kind: "deployment",
    replicas: 1,
    containers: [
      { name: "cert-manager-cainjector", format: "klog", rate: 0.05, image: "quay.io/jetstack/cert-manager-cainjector:v1.16.1" },
    ],
  },
  {
    namespace: "argocd",
    name: "argocd-application-controller",
    kind: "statefulset",
    replicas: 1,
    containers: [{ name: "argocd-application-controller", format: "logfmt", rate: 4, image: "quay.io/argoproj/argocd:v2.13.0" }],
  },
  {
    namespace: "argocd",
    name: "argocd-repo-server",
    kind: "deployment",
    replicas: 1,
    containers: [{ name: "argocd-repo-server", format: "logfmt", rate: 1, image: "quay.io/argoproj/argocd:v2.13.0" }],
  },
  {
    namespace: "argocd",
    name: "argocd-server",
    kind: "deployment",
    replicas: 1,
    containers: [{ name: "argocd-server", format: "json", rate: 1, image: "quay.io/argoproj/argocd:v2.13.0" }],
  },
  {
    namespace: "default",
    name: "hello-web",
    kind: "deployment",
    replicas: 1,
    containers: [{ name: "nginx", format: "nginx", rate: 0.5, image: "docker.io/library/nginx:1.27.2" }],
  },
  // applications
  {
    namespace: "frontend",
    name: "storefront",
    kind: "deployment",
    replicas: 3,
    containers: app("nginx", "nginx", 20, "registry.example.com/shop/storefront:2.41.0"),
  },
  {
    namespace: "checkout",
    name: "checkout-service",
    kind: "deployment",
    replicas: 2,
    containers: app("checkout", "java", 10, "registry.example.com/shop/checkout:1.18.3"),
  },
  {
    namespace: "payments",
    name: "payments-api",
    kind: "deployment",
    replicas: 2,
    containers: app("payments", "java", 6, "registry.example.com/shop/payments:3.2.0"),
  },
  {
    namespace: "catalog",
    name: "catalog-api",
    kind: "deployment",
    replicas: 3,
    containers: app("catalog", "json", 25, "registry.example.com/shop/catalog:5.0.12"),
  },
  {
    namespace: "search",
    name: "search-api",
    kind: "deployment",
    replicas: 2,
    containers: app("search", "java", 8, "registry.example.com/shop/search:0.9.7", false),
  },
  {
    namespace: "auth",
    name: "auth-service",
    kind: "deployment",
    replicas: 2,
    containers: app("auth", "json", 12, "registry.example.com/shop/auth:4.4.1"),
  },
  {
    namespace: "orders",
    name: "orders-api",
    kind: "deployment",
    replicas: 3,
    containers: app("orders", "goslog", 15, "registry.example.com/shop/orders:2.7.5"),
  },
  {
    namespace: "inventory",
    name: "inventory-sync",
    kind: "deployment",
    replicas: 2,
    containers: app("inventory", "json", 6, "registry.example.com/shop/inventory:1.3.9", false),
  },
  {
    namespace: "shipping",
    name: "shipping-api",
    kind: "deployment",
    replicas: 1,
    containers: app("shipping", "goslog", 4, "registry.example.com/shop/shipping:1.0.4"),
  },
  {
    namespace: "shipping",
    name: "shipping-worker",
    kind: "deployment",
    replicas: 1,
    containers: app("worker", "python", 4, "registry.example.com/shop/shipping-worker:1.0.4", false),
  },
  {
    namespace: "notifications",
    name: "notifications-worker",
    kind: "deployment",
    replicas: 2,
    containers: app("celery", "celery", 5, "registry.example.com/shop/notifications:2.2.0", false),
  },
  {
    namespace: "analytics",
    name: "analytics-etl",
    kind: "deployment",
    replicas: 1,
    containers: app("etl", "python", 3, "registry.example.com/data/analytics-etl:0.14.2", false),
  },
  {
    namespace: "data-pipeline",
    name: "events-consumer",
    kind: "statefulset",
    replicas: 1,
    containers: app("consumer", "java", 15, "registry.example.com/data/events-consumer:7.1.0", false),
  },
  {
    namespace: "ml-serving",
    name: "recommender",
    kind: "deployment",
    replicas: 2,
    containers: [
      { name: "server", format: "gunicorn", rate: 6, image: "registry.example.com/ml/recommender:2024.11.2" },
      sidecar(4.2),
    ],
  },
];

/**
 * One container per log file (kind files): namespace "samples", the pod named after the file
 * (lower case, what is not [a-z0-9-] made "-"), container "main".
 */
export function fileContainers(files: string[], seed = 1): CorpusContainer[] {
  const rng = new Rng(hashSeed(seed, 0xf11e5));
  return files.map((f, index) => {
    const pod = basename(f)
      .replace(/\.[^.]*$/, "")
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-");
    return {
      index,
      namespace: "samples",
      pod,
      container: "main",
      podId: rng.uuid(),
      dockerId: rng.hex(64),
      host: "node-1",
      image: `samples/${pod}:1`,
      labels: { app: pod },
      format: "file",
      rate: 0,
      service: pod,
    };
  });
}

/** Every container of the cluster, in a fixed order (index = position). */
export function corpusContainers(seed = 1): CorpusContainer[] {
  const rng = new Rng(hashSeed(seed, 0xc0ffee));
  const out: CorpusContainer[] = [];
  for (const w of WORKLOADS) {
    const rs = rng.alnum(w.kind === "deployment" ? 10 : 0);
    for (let r = 0; r < w.replicas; r++) {
      const node = w.kind === "daemonset" ? NODES[r % NODES.length]! : rng.pick(NODES);
      const pod =
        w.kind === "deployment"
          ? `${w.name}-${rs}-${rng.alnum(5)}`
          : w.kind === "statefulset"
            ? `${w.name}-${r}`
            : w.kind === "daemonset"
              ? `${w.name}-${rng.alnum(5)}`
              : `${w.name}-${node}`;
      const podId = rng.uuid();
      for (const c of w.containers) {
        out.push({
          index: out.length,
          namespace: w.namespace,
          pod,
          container: c.name,
          podId,
          dockerId: rng.hex(64),
          host: node,
          image: c.image,
          labels: {
            app: w.name,
            "app.kubernetes.io/name": w.name,
            "app.kubernetes.io/part-of": w.namespace,
            ...(w.kind === "deployment" ? { "pod-template-hash": rs } : {}),
            ...(c.format === "envoy" ? { "security.istio.io/tlsMode": "istio" } : {}),
          },
          format: c.format,
          rate: c.rate,
          service: w.name,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Line formats. An event is one log line, or several (a stack trace); `t` is its time in epoch µs.

interface Event {
  lines: string[];
  stream: "stdout" | "stderr";
}

/** What every container of a seed shares: IP pools, ids that recur. */
interface Pools {
  clientIps: string[];
  podIps: string[];
  users: number[];
}

function poolsOf(seed: number): Pools {
  const rng = new Rng(hashSeed(seed, 0x9e3779b9));
  const prefixes = [
    [81, 2],
    [93, 184],
    [185, 60],
    [203, 0],
    [198, 51],
    [92, 40],
    [176, 9],
    [2, 84],
    [109, 190],
    [37, 120],
  ];
  const clientIps: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const [a, b] = rng.pick(prefixes);
    clientIps.push(`${a}.${b}.${rng.int(0, 256)}.${rng.int(1, 255)}`);
  }
  const podIps: string[] = [];
  for (let i = 0; i < 200; i++) podIps.push(`10.244.${rng.int(0, 6)}.${rng.int(2, 255)}`);
  const users: number[] = [];
  for (let i = 0; i < 20000; i++) users.push(rng.int(1000, 2_000_000));
  return { clientIps, podIps, users };
}

interface Ctx {
  c: CorpusContainer;
  rng: Rng;
  pools: Pools;
  /** Per-container counters (threads, revisions) that move forward. */
  counter: number;
}

function ms(rng: Rng, median: number, sigma = 0.8): number {
  return Math.max(0.05, rng.logNormal(median, sigma));
}

/** A request path of a shop-like API, with ids, query strings and hashed assets. */
function requestPath(x: Ctx): string {
  const r = x.rng;
  switch (
    r.weighted([
      [30, 0],
      [20, 1],
      [12, 2],
      [10, 3],
      [8, 4],
      [8, 5],
      [6, 6],
      [6, 7],
    ] as const)
  ) {
    case 0:
      return `/api/v1/products/${r.int(1, 250_000)}`;
    case 1:
      return `/api/v1/products?category=${r.pick(CATEGORIES)}&page=${r.int(1, 40)}&sort=${r.pick(["price", "rating", "new"])}`;
    case 2:
      return `/static/${r.pick(["js", "css", "img"])}/${r.pick(["main", "vendor", "app", "chunk", "logo"])}.${r.hex(8)}.${r.pick(["js", "css", "webp"])}`;
    case 3:
      return `/api/v1/cart/${r.uuid()}/items`;
    case 4:
      return `/search?q=${r.pick(WORDS)}${r.chance(0.3) ? `+${r.pick(WORDS)}` : ""}&page=${r.int(1, 5)}`;
    case 5:
      return `/api/v1/orders/${r.int(10_000_000, 99_999_999)}`;
    case 6:
      return r.pick(["/healthz", "/readyz", "/metrics", "/"]);
    default:
      return `/api/v1/users/${r.zipf(x.pools.users)}/${r.pick(["profile", "addresses", "wishlist", "orders"])}`;
  }
}

function nginx(x: Ctx, t: number): Event {
  const r = x.rng;
  const status = r.weighted(HTTP_STATUSES);
  const method = r.weighted(METHODS);
  const path = requestPath(x);
  const bytes = status === 204 || status === 304 ? 0 : Math.round(r.logNormal(1800, 1.3));
  const took = ms(r, 18, 1) / 1000;
  const upstream = `${x.c.namespace}-${x.c.service}-${r.pick(["80", "8080"])}`;
  const ua = r.zipf(USER_AGENTS, 1.6);
  if (x.c.service === "ingress-nginx-controller") {
    return {
      stream: "stdout",
      lines: [
        `${r.zipf(x.pools.clientIps)} - - [${timeFormat.nginx(t)}] "${method} ${path} HTTP/${r.pick(["1.1", "2.0"])}" ${status} ${bytes} "${r.pick(REFERERS)}" "${ua}" ${r.int(180, 900)} ${took.toFixed(3)} [${r.pick(["shop-storefront-80", "catalog-catalog-api-8080", "orders-orders-api-8080", "auth-auth-service-8080", "checkout-checkout-service-8080"])}] [] ${r.pick(x.pools.podIps)}:${r.pick([80, 8080])} ${bytes} ${(took - 0.001).toFixed(3)} ${status} ${r.hex(32)}`,
      ],
    };
  }
  return {
    stream: "stdout",
    lines: [
      `${r.pick(x.pools.podIps)} - - [${timeFormat.nginx(t)}] "${method} ${path} HTTP/1.1" ${status} ${bytes} "${r.pick(REFERERS)}" "${ua}" "${r.zipf(x.pools.clientIps)}" rt=${took.toFixed(3)} upstream=${upstream}`,
    ],
  };
}

function envoy(x: Ctx, t: number): Event {
  const r = x.rng;
  const status = r.weighted(HTTP_STATUSES);
  const inbound = r.chance(0.6);
  const host = inbound
    ? `${x.c.service}.${x.c.namespace}.svc.cluster.local:8080`
    : r.pick([
        "catalog-api.catalog",
        "auth-service.auth",
        "orders-api.orders",
        "payments-api.payments",
        "inventory-sync.inventory",
      ]) + ".svc.cluster.local:8080";
  const dur = Math.round(ms(r, 9, 1.1));
  const flags = status === 503 ? "UF" : status === 504 ? "UT" : status === 499 ? "DC" : "-";
  const podIp = r.pick(x.pools.podIps);
  const peer = r.pick(x.pools.podIps);
  return {
    stream: "stdout",
    lines: [
      `[${timeFormat.iso(t)}] "${r.weighted(METHODS)} ${requestPath(x)} HTTP/${r.pick(["1.1", "2"])}" ${status} ${flags} via_upstream - "-" ${r.chance(0.7) ? 0 : r.int(20, 4000)} ${status === 204 ? 0 : Math.round(r.logNormal(900, 1.2))} ${dur} ${Math.max(0, dur - r.int(0, 3))} "${inbound ? r.zipf(x.pools.clientIps) : "-"}" "${r.zipf(USER_AGENTS.slice(6), 1.3)}" "${r.uuid()}" "${host}" "${podIp}:8080" ${inbound ? "inbound|8080||" : `outbound|8080||${host.replace(/:8080$/, "")}`} 127.0.0.6:${r.int(32768, 61000)} ${podIp}:8080 ${peer}:${r.int(32768, 61000)} ${inbound ? `outbound_.8080_._.${x.c.service}.${x.c.namespace}.svc.cluster.local` : "-"} default`,
    ],
  };
}

const JSON_TEMPLATES: readonly (readonly [number, (x: Ctx) => Record<string, unknown>])[] = [
  [
    40,
    (x) => {
      const r = x.rng;
      const status = r.weighted(HTTP_STATUSES);
      return {
        level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
        msg: "request completed",
        request_id: r.uuid(),
        trace_id: r.hex(32),
        span_id: r.hex(16),
        http: { method: r.weighted(METHODS), path: requestPath(x), status, bytes: Math.round(r.logNormal(1500, 1.2)) },
        duration_ms: +ms(r, 12).toFixed(3),
        remote_addr: r.pick(x.pools.podIps),
      };
    },
  ],
  [
    10,
    (x) => ({
      level: "debug",
      msg: "cache lookup",
      key: `${x.rng.pick(["product", "price", "stock", "session"])}:${x.rng.int(1, 250_000)}`,
      hit: x.rng.chance(0.8),
      duration_ms: +ms(x.rng, 0.4).toFixed(3),
    }),
  ],
  [
    8,
    (x) => ({
      level: "info",
      msg: "order created",
      order_id: x.rng.int(10_000_000, 99_999_999),
      user: { id: x.rng.zipf(x.pools.users), tier: x.rng.pick(["free", "plus", "business"]) },
      cart: { id: x.rng.uuid(), items: x.rng.int(1, 9), total_cents: x.rng.int(499, 45_000), currency: x.rng.pick(CURRENCIES) },
      request_id: x.rng.uuid(),
    }),
  ],
  [
    6,
    (x) => ({
      level: "info",
      msg: "token issued",
      sub: x.rng.uuid(),
      client_id: x.rng.pick(["storefront", "mobile-ios", "mobile-android", "partner-api"]),
      scopes: x.rng.pick([["openid", "profile"], ["openid", "profile", "orders:read"], ["orders:write"]]),
      expires_in: 3600,
    }),
  ],
  [
    5,
    (x) => ({
      level: "warn",
      msg: "slow query",
      query: x.rng.pick([
        "SELECT id, name, price FROM products WHERE category_id = $1 ORDER BY popularity DESC LIMIT 50",
        "UPDATE stock SET quantity = quantity - $1 WHERE sku = $2 AND quantity >= $1",
        "SELECT * FROM sessions WHERE user_id = $1 AND expires_at > now()",
      ]),
      duration_ms: +ms(x.rng, 850, 0.5).toFixed(1),
      rows: x.rng.int(0, 500),
    }),
  ],
  [
    4,
    (x) => ({
      level: "info",
      msg: "stock synchronised",
      warehouse: x.rng.pick(["AMS-1", "FRA-2", "DUB-1", "MAD-3"]),
      skus: x.rng.int(10, 5000),
      changed: x.rng.int(0, 300),
      duration_ms: +ms(x.rng, 340).toFixed(1),
    }),
  ],
  [
    3,
    (x) => {
      const r = x.rng;
      const file = r.pick(["handler.go", "client.go", "repository.go"]);
      return {
        level: "error",
        msg: "upstream request failed",
        error: r.pick([
          `dial tcp 10.96.${r.int(0, 255)}.${r.int(1, 255)}:5432: connect: connection refused`,
          "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
          `rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.96.${r.int(0, 255)}.${r.int(1, 255)}:9090: i/o timeout"`,
        ]),
        attempt: r.int(1, 4),
        request_id: r.uuid(),
        stacktrace: `github.com/example/shop/${x.c.service}/internal/api.(*Server).handle\n\t/src/internal/api/${file}:${r.int(40, 400)}\nnet/http.HandlerFunc.ServeHTTP\n\t/usr/local/go/src/net/http/server.go:2220\nnet/http.(*ServeMux).ServeHTTP\n\t/usr/local/go/src/net/http/server.go:2747`,
      };
    },
  ],
  [
    2,
    (x) => ({
      level: "info",
      msg: "finished compaction",
      revision: 4_000_000 + x.counter * 3 + x.rng.int(0, 3),
      "compact-revision": 4_000_000 + x.counter * 3 - 1000,
      took: `${ms(x.rng, 8).toFixed(6)}ms`,
    }),
  ],
];

function json(x: Ctx, t: number): Event {
  const r = x.rng;
  x.counter++;
  const body = r.weighted(JSON_TEMPLATES)(x);
  const { level, msg, ...rest } = body;
  const caller = `${r.pick(["api", "store", "cache", "auth", "sync"])}/${r.pick(["handler", "server", "client", "worker"])}.go:${r.int(20, 600)}`;
  const record =
    x.c.service === "auth-service"
      ? // pino: numeric levels, epoch ms, hostname and pid
        {
          level: { debug: 20, info: 30, warn: 40, error: 50 }[level as string] ?? 30,
          time: Math.floor(t / 1000),
          pid: 1,
          hostname: x.c.pod,
          msg,
          ...rest,
        }
      : { level, ts: timeFormat.iso(t, 6), caller, msg, service: x.c.service, ...rest };
  return { stream: level === "error" ? "stderr" : "stdout", lines: [JSON.stringify(record)] };
}

const KLOG_FILES = [
  "controller.go",
  "reflector.go",
  "event.go",
  "leaderelection.go",
  "garbagecollector.go",
  "replica_set.go",
  "endpointslice_controller.go",
  "shared_informer.go",
  "round_trippers.go",
  "server.go",
];

function klog(x: Ctx, t: number): Event {
  const r = x.rng;
  const ns = r.pick(["frontend", "checkout", "payments", "catalog", "orders", "auth", "monitoring", "kube-system"]);
  const obj = `${ns}/${r.pick(["storefront", "checkout-service", "catalog-api", "orders-api", "auth-service"])}-${r.alnum(10)}-${r.alnum(5)}`;
  const [level, text] = r.weighted<[string, string]>([
    [30, ["I", `"Successfully synced" key="${obj}"`]],
    [
      15,
      [
        "I",
        `"Event occurred" object="${obj}" fieldPath="" kind="Pod" apiVersion="v1" type="Normal" reason="${r.pick(["Scheduled", "Pulled", "Created", "Started", "Killing"])}" message="${r.pick(["Successfully assigned", "Container image already present on machine", "Created container", "Started container", "Stopping container"])} ${obj.split("/")[1]}"`,
      ],
    ],
    [
      12,
      [
        "I",
        `"Finished syncing" kind="${r.pick(["ReplicaSet", "Endpoints", "EndpointSlice", "Deployment"])}" key="${obj}" duration="${ms(r, 1.2).toFixed(6)}ms"`,
      ],
    ],
    [
      10,
      [
        "I",
        `Caches populated for *v1.${r.pick(["Pod", "Service", "Node", "ConfigMap", "Secret", "Lease"])} from k8s.io/client-go/informers/factory.go:160`,
      ],
    ],
    [8, ["I", `"Syncing iptables rules" ipFamily="IPv4" numServices=${r.int(80, 140)} numEndpoints=${r.int(150, 400)}`]],
    [6, ["I", `"Reconciling" certificate="${ns}/${r.pick(["web-tls", "api-tls", "grafana-tls"])}" revision=${r.int(1, 30)}`]],
    [
      5,
      [
        "W",
        `k8s.io/client-go/informers/factory.go:160: watch of *v1.${r.pick(["Pod", "Endpoints", "Secret"])} ended with: an error on the server ("unable to decode an event from the watch stream: http2: client connection lost") has prevented the request from succeeding`,
      ],
    ],
    [
      3,
      [
        "W",
        `"Failed to update lock optimitically, falling back to slow path" err="Operation cannot be fulfilled on leases.coordination.k8s.io \\"kube-controller-manager\\": the object has been modified; please apply your changes to the latest version and try again"`,
      ],
    ],
    [
      2,
      [
        "E",
        `error retrieving resource lock kube-system/kube-controller-manager: Get "https://10.0.1.10:6443/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s": context deadline exceeded`,
      ],
    ],
    [
      2,
      [
        "E",
        `"Unhandled Error" err="${r.pick(["pods", "endpointslices"])} \\"${obj.split("/")[1]}\\" not found" logger="UnhandledError"`,
      ],
    ],
  ]);
  return {
    stream: "stderr",
    lines: [`${level}${timeFormat.klog(t)}       1 ${r.pick(KLOG_FILES)}:${r.int(50, 1200)}] ${text}`],
  };
}

// Java: Spring Boot 3 logback lines and exception traces.
const JAVA_LOGGERS = [
  "c.e.shop.web.CheckoutController",
  "c.e.shop.service.OrderService",
  "c.e.shop.client.PaymentGatewayClient",
  "o.s.web.servlet.DispatcherServlet",
  "c.e.shop.repository.CartRepository",
  "o.a.kafka.clients.consumer.KafkaConsumer",
  "c.zaxxer.hikari.pool.HikariPool",
];
const JAVA_FRAMES_SPRING = [
  "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
  "org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:914)",
  "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)",
  "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
  "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
  "org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:195)",
  "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:140)",
  "org.apache.tomcat.websocket.server.WsFilter.doFilter(WsFilter.java:51)",
  "org.springframework.web.filter.RequestContextFilter.doFilterInternal(RequestContextFilter.java:100)",
  "org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)",
  "org.springframework.web.filter.FormContentFilter.doFilterInternal(FormContentFilter.java:93)",
  "org.springframework.web.filter.ServerHttpObservationFilter.doFilterInternal(ServerHttpObservationFilter.java:109)",
  "org.springframework.web.filter.CharacterEncodingFilter.doFilterInternal(CharacterEncodingFilter.java:201)",
  "org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
  "org.apache.catalina.core.StandardContextValve.invoke(StandardContextValve.java:90)",
  "org.apache.catalina.authenticator.AuthenticatorBase.invoke(AuthenticatorBase.java:483)",
  "org.apache.catalina.core.StandardHostValve.invoke(StandardHostValve.java:115)",
  "org.apache.catalina.valves.ErrorReportValve.invoke(ErrorReportValve.java:93)",
  "org.apache.catalina.core.StandardEngineValve.invoke(StandardEngineValve.java:74)",
  "org.apache.catalina.connector.CoyoteAdapter.service(CoyoteAdapter.java:344)",
  "org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:397)",
  "org.apache.coyote.AbstractProcessorLight.process(AbstractProcessorLight.java:63)",
  "org.apache.coyote.AbstractProtocol$ConnectionHandler.process(AbstractProtocol.java:905)",
  "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1741)",
  "org.apache.tomcat.util.net.SocketProcessorBase.run(SocketProcessorBase.java:52)",
  "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1190)",
  "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
  "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:63)",
  "java.base/java.lang.Thread.run(Thread.java:1583)",
];
const JAVA_EXCEPTIONS = [
  (r: Rng) =>
    `java.lang.NullPointerException: Cannot invoke "com.example.shop.model.Customer.getId()" because "customer" is null`,
  (r: Rng) => `java.lang.IllegalStateException: Cart ${r.uuid()} is already checked out`,
  (r: Rng) =>
    `org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection [HikariPool-1 - Connection is not available, request timed out after ${r.int(3000, 30001)}ms (total=20, active=20, idle=0, waiting=${r.int(1, 40)})]`,
  (r: Rng) =>
    `org.springframework.web.client.ResourceAccessException: I/O error on POST request for "http://payments-api.payments.svc.cluster.local:8080/api/v1/charges": Read timed out`,
  (r: Rng) =>
    `com.fasterxml.jackson.databind.exc.InvalidFormatException: Cannot deserialize value of type \`java.math.BigDecimal\` from String "${r.int(1, 999)},${r.int(10, 99)}": not a valid representation`,
];

function java(x: Ctx, t: number): Event {
  const r = x.rng;
  const svc = x.c.service.replace(/-.*/, "");
  const thread =
    x.c.service === "events-consumer"
      ? `org.springframework.kafka.KafkaListenerEndpointContainer#0-${r.int(0, 4)}-C-1`
      : `nio-8080-exec-${r.int(1, 11)}`;
  const head = (level: string, logger: string) =>
    `${timeFormat.iso(t)} ${level.padStart(5)} 1 --- [${svc}] [${thread.slice(-15).padStart(15)}] ${logger.padEnd(40)} : `;
  if (r.chance(1 / 150)) {
    const ex = r.pick(JAVA_EXCEPTIONS)(r);
    const lines = [
      `${head("ERROR", "o.a.c.c.C.[.[.[/].[dispatcherServlet]")}Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Request processing failed: ${ex}] with root cause`,
      ex,
    ];
    const appFrames = r.int(3, 9);
    for (let i = 0; i < appFrames; i++) {
      const [pkg, kind] = r.pick([
        ["service", "Service"],
        ["web", "Controller"],
        ["client", "Client"],
        ["repository", "Repository"],
      ] as const);
      const cls = `${r.pick(["Order", "Cart", "Payment", "Checkout", "Customer"])}${kind}`;
      lines.push(
        `\tat com.example.shop.${svc}.${pkg}.${cls}.${r.pick(["create", "process", "charge", "load", "validate", "toDto"])}(${cls}.java:${r.int(30, 400)}) ~[classes/:na]`,
      );
    }
    const framework = r.int(12, JAVA_FRAMES_SPRING.length + 1);
    for (const f of JAVA_FRAMES_SPRING.slice(JAVA_FRAMES_SPRING.length - framework))
      lines.push(
        `\tat ${f} ~[${f.startsWith("java.base") ? "na" : "spring-webmvc-6.1.14.jar"}:${f.startsWith("java.base") ? "na" : "6.1.14"}]`,
      );
    if (r.chance(0.5)) {
      lines.push(`Caused by: java.net.SocketTimeoutException: Read timed out`);
      lines.push(`\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)`);
      lines.push(`\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:304)`);
      lines.push(`\tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)`);
      lines.push(`\t... ${framework + appFrames - 2} common frames omitted`);
    }
    return { stream: "stdout", lines };
  }
  const logger = r.pick(JAVA_LOGGERS);
  const [level, text] = r.weighted<[string, string]>([
    [
      35,
      [
        "INFO",
        `Order ${r.int(10_000_000, 99_999_999)} created for customer ${r.zipf(x.pools.users)} (${r.int(1, 9)} items, total ${(r.int(499, 45_000) / 100).toFixed(2)} ${r.pick(CURRENCIES)}) in ${Math.round(ms(r, 40))} ms`,
      ],
    ],
    [
      20,
      [
        "INFO",
        `Completed ${r.weighted(METHODS)} ${requestPath(x)} -> ${r.weighted(HTTP_STATUSES)} in ${Math.round(ms(r, 25))}ms [traceId=${r.hex(32)}, spanId=${r.hex(16)}]`,
      ],
    ],
    [12, ["DEBUG", `Fetching cart ${r.uuid()} from cache (ttl=${r.int(1, 600)}s)`]],
    [
      10,
      [
        "INFO",
        `Consumed ${r.int(1, 500)} records from topic events.${r.pick(["clicks", "orders", "payments"])} partition ${r.int(0, 12)} at offset ${r.int(1_000_000, 90_000_000)}`,
      ],
    ],
    [
      8,
      [
        "INFO",
        `Charge ${r.uuid()} authorized: amount=${(r.int(499, 45_000) / 100).toFixed(2)} currency=${r.pick(CURRENCIES)} provider=${r.pick(["stripe", "adyen", "paypal"])}`,
      ],
    ],
    [
      6,
      [
        "WARN",
        `Retrying call to payments-api (attempt ${r.int(2, 4)}/3) after ${r.pick(["SocketTimeoutException", "HttpServerErrorException$ServiceUnavailable"])}`,
      ],
    ],
    [
      4,
      [
        "WARN",
        `HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=${r.int(60, 900)}s${r.int(0, 999)}ms).`,
      ],
    ],
    [
      3,
      [
        "ERROR",
        `Payment ${r.uuid()} declined: ${r.pick(["insufficient_funds", "card_declined", "expired_card", "do_not_honor"])}`,
      ],
    ],
  ]);
  return { stream: "stdout", lines: [head(level, logger) + text] };
}

function goPanic(x: Ctx): string[] {
  const r = x.rng;
  const lines = [
    "panic: runtime error: invalid memory address or nil pointer dereference",
    `[signal SIGSEGV: segmentation violation code=0x1 addr=0x${r.int(8, 256).toString(16)} pc=0x${r.hex(6)}]`,
    "",
    `goroutine ${r.int(100, 99_999)} [running]:`,
  ];
  const frames = [
    [
      `github.com/example/shop/${x.c.service}/internal/store.(*Cache).Get(0x0, {0xc000${r.hex(6)}, 0x${r.int(8, 64).toString(16)}})`,
      `/src/internal/store/cache.go:${r.int(40, 200)} +0x${r.hex(2)}`,
    ],
    [
      `github.com/example/shop/${x.c.service}/internal/api.(*Server).getOrder(0xc000${r.hex(6)}, {0x${r.hex(7)}, 0xc000${r.hex(6)}}, 0xc000${r.hex(6)})`,
      `/src/internal/api/orders.go:${r.int(40, 300)} +0x${r.hex(3)}`,
    ],
    [
      "net/http.HandlerFunc.ServeHTTP(0xc000" +
        r.hex(6) +
        ", {0x" +
        r.hex(7) +
        ", 0xc000" +
        r.hex(6) +
        "}, 0xc000" +
        r.hex(6) +
        ")",
      "/usr/local/go/src/net/http/server.go:2220 +0x29",
    ],
    [
      "net/http.(*ServeMux).ServeHTTP(0xc000" +
        r.hex(6) +
        ", {0x" +
        r.hex(7) +
        ", 0xc000" +
        r.hex(6) +
        "}, 0xc000" +
        r.hex(6) +
        ")",
      "/usr/local/go/src/net/http/server.go:2747 +0x1ca",
    ],
    [
      "net/http.serverHandler.ServeHTTP({0xc000" +
        r.hex(6) +
        "}, {0x" +
        r.hex(7) +
        ", 0xc000" +
        r.hex(6) +
        "}, 0xc000" +
        r.hex(6) +
        ")",
      "/usr/local/go/src/net/http/server.go:3210 +0x8e",
    ],
    [
      "net/http.(*conn).serve(0xc000" + r.hex(6) + ", {0x" + r.hex(7) + ", 0xc000" + r.hex(6) + "})",
      "/usr/local/go/src/net/http/server.go:2092 +0x5d0",
    ],
  ];
  for (const [f, loc] of frames) lines.push(f!, `\t${loc}`);
  lines.push("created by net/http.(*Server).Serve in goroutine 1", "\t/usr/local/go/src/net/http/server.go:3360 +0x485");
  return lines;
}

function goslog(x: Ctx, t: number): Event {
  const r = x.rng;
  if (r.chance(1 / 20_000)) return { stream: "stderr", lines: goPanic(x) };
  const [level, text] = r.weighted<[string, string]>([
    [
      45,
      [
        "INFO",
        `msg="request" method=${r.weighted(METHODS)} path=${requestPath(x)} status=${r.weighted(HTTP_STATUSES)} duration=${ms(r, 11).toFixed(3)}ms request_id=${r.uuid()} user_id=${r.zipf(x.pools.users)}`,
      ],
    ],
    [
      15,
      [
        "INFO",
        `msg="order state changed" order_id=${r.int(10_000_000, 99_999_999)} from=${r.pick(["pending", "paid", "packed"])} to=${r.pick(["paid", "packed", "shipped", "delivered"])} carrier=${r.pick(["dhl", "ups", "postnl", "dpd"])}`,
      ],
    ],
    [12, ["DEBUG", `msg="cache refresh" component=pricing items=${r.int(100, 5000)} duration=${ms(r, 140).toFixed(1)}ms`]],
    [
      8,
      [
        "INFO",
        `msg="published event" topic=orders.events key=${r.uuid()} partition=${r.int(0, 12)} offset=${r.int(1_000_000, 9_000_000)}`,
      ],
    ],
    [5, ["WARN", `msg="retrying request" upstream=inventory-sync attempt=${r.int(2, 5)} err="context deadline exceeded"`]],
    [
      2,
      [
        "ERROR",
        `msg="failed to reserve stock" order_id=${r.int(10_000_000, 99_999_999)} sku=SKU-${r.int(10000, 99999)} err="rpc error: code = FailedPrecondition desc = insufficient stock (requested ${r.int(2, 9)}, available ${r.int(0, 2)})"`,
      ],
    ],
  ]);
  return { stream: level === "ERROR" ? "stderr" : "stdout", lines: [`time=${timeFormat.iso(t)} level=${level} ${text}`] };
}

const PY_FRAMES: readonly [string, string][] = [
  [
    'File "/usr/local/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task',
    "R = retval = fun(*args, **kwargs)",
  ],
  [
    'File "/usr/local/lib/python3.12/site-packages/celery/app/trace.py", line 736, in __protected_call__',
    "return self.run(*args, **kwargs)",
  ],
  ['File "/app/worker/tasks.py", line 88, in send_notification', "resp = client.send(msg, timeout=10)"],
  ['File "/app/worker/clients.py", line 41, in send', "r = self.session.post(self.url, json=payload, timeout=timeout)"],
  [
    'File "/usr/local/lib/python3.12/site-packages/requests/sessions.py", line 637, in post',
    'return self.request("POST", url, data=data, json=json, **kwargs)',
  ],
  [
    'File "/usr/local/lib/python3.12/site-packages/requests/sessions.py", line 589, in request',
    "resp = self.send(prep, **send_kwargs)",
  ],
  [
    'File "/usr/local/lib/python3.12/site-packages/requests/adapters.py", line 700, in send',
    "raise ConnectionError(e, request=request)",
  ],
];

function pyTraceback(x: Ctx): string[] {
  const r = x.rng;
  const lines = ["Traceback (most recent call last):"];
  const from = r.int(0, 3);
  for (const [file, code] of PY_FRAMES.slice(from)) lines.push(`  ${file}`, `    ${code}`);
  lines.push(
    r.pick([
      `requests.exceptions.ConnectionError: HTTPSConnectionPool(host='smtp-relay.internal', port=443): Max retries exceeded with url: /v1/send (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f${r.hex(10)}>: Failed to establish a new connection: [Errno 111] Connection refused'))`,
      `KeyError: 'customer_id'`,
      `psycopg2.OperationalError: could not connect to server: Connection timed out\n\tIs the server running on host "analytics-db.analytics.svc" (10.96.${r.int(0, 255)}.${r.int(1, 255)}) and accepting\n\tTCP/IP connections on port 5432?`,
      `ValueError: invalid literal for int() with base 10: '${r.alnum(6)}'`,
    ]),
  );
  return lines.flatMap((l) => l.split("\n"));
}

function python(x: Ctx, t: number): Event {
  const r = x.rng;
  if (r.chance(1 / 120)) {
    const head = `${timeFormat.python(t)} ERROR [${x.c.service}.tasks] Unhandled exception while processing job ${r.int(1_000_000, 9_999_999)}`;
    return { stream: "stderr", lines: [head, ...pyTraceback(x)] };
  }
  const [level, text] = r.weighted<[string, string]>([
    [
      40,
      [
        "INFO",
        `[${x.c.service}.jobs] Processing job ${r.int(1_000_000, 9_999_999)} type=${r.pick(["label", "export", "aggregate", "reindex"])} batch=${r.int(1, 500)}`,
      ],
    ],
    [
      25,
      [
        "INFO",
        `[${x.c.service}.jobs] Job ${r.int(1_000_000, 9_999_999)} done in ${(ms(r, 900) / 1000).toFixed(3)}s rows=${r.int(0, 100_000)}`,
      ],
    ],
    [
      15,
      [
        "DEBUG",
        `[urllib3.connectionpool] https://${r.pick(["api.carrier.example", "s3.eu-west-1.amazonaws.com", "analytics-db.analytics.svc"])}:443 "${r.pick(["GET", "POST", "PUT"])} /${r.pick(["v2/shipments", "bucket/exports", "v1/rates"])}/${r.alnum(12)} HTTP/1.1" ${r.weighted(HTTP_STATUSES)} ${r.int(0, 40_000)}`,
      ],
    ],
    [8, ["WARNING", `[${x.c.service}.clients] Rate limited by upstream, sleeping ${r.int(1, 30)}s (remaining=${r.int(0, 10)})`]],
    [
      4,
      [
        "ERROR",
        `[${x.c.service}.jobs] Job ${r.int(1_000_000, 9_999_999)} failed: ${r.pick(["timeout after 30s", "upstream returned 503", "invalid payload"])}`,
      ],
    ],
  ]);
  return { stream: "stderr", lines: [`${timeFormat.python(t)} ${level} ${text}`] };
}

function celery(x: Ctx, t: number): Event {
  const r = x.rng;
  if (r.chance(1 / 120)) {
    return {
      stream: "stderr",
      lines: [
        `[${timeFormat.python(t)}: ERROR/ForkPoolWorker-${r.int(1, 9)}] Task notifications.tasks.send_notification[${r.uuid()}] raised unexpected: ConnectionError(MaxRetryError("HTTPSConnectionPool(host='smtp-relay.internal', port=443): Max retries exceeded"))`,
        ...pyTraceback(x),
      ],
    };
  }
  const task = r.pick(["send_notification", "send_email", "send_push", "render_template"]);
  const id = r.uuid();
  const text = r.weighted<string>([
    [45, `INFO/MainProcess] Task notifications.tasks.${task}[${id}] received`],
    [
      45,
      `INFO/ForkPoolWorker-${r.int(1, 9)}] Task notifications.tasks.${task}[${id}] succeeded in ${(ms(r, 150) / 1000).toFixed(6)}s: {'status': 'sent', 'channel': '${r.pick(["email", "push", "sms"])}', 'user_id': ${r.zipf(x.pools.users)}}`,
    ],
    [
      6,
      `WARNING/ForkPoolWorker-${r.int(1, 9)}] Retrying notifications.tasks.${task}[${id}] in ${r.int(5, 120)}s: 429 Too Many Requests`,
    ],
    [4, `INFO/MainProcess] Events of group {task} enabled by remote.`],
  ]);
  return { stream: "stderr", lines: [`[${timeFormat.python(t)}: ${text}`] };
}

function gunicorn(x: Ctx, t: number): Event {
  const r = x.rng;
  if (r.chance(0.75)) {
    // gunicorn access log (stdout)
    const status = r.weighted(HTTP_STATUSES);
    return {
      stream: "stdout",
      lines: [
        `${r.pick(x.pools.podIps)} - - [${timeFormat.nginx(t)}] "POST /v1/recommendations?user=${r.zipf(x.pools.users)}&k=${r.pick([10, 20, 50])} HTTP/1.1" ${status} ${Math.round(r.logNormal(2400, 0.6))} "-" "${r.pick(USER_AGENTS.slice(6, 10))}" ${Math.round(ms(r, 35) * 1000)}`,
      ],
    };
  }
  return python(x, t);
}

function logfmt(x: Ctx, t: number): Event {
  const r = x.rng;
  const ts = timeFormat.iso(t);
  let line: string;
  switch (x.c.service) {
    case "grafana":
      line = `logger=context userId=${r.int(1, 40)} orgId=1 uname=${r.pick(["admin", "oncall", "alice", "bob", "viewer"])} t=${ts} level=info msg="Request Completed" method=${r.pick(["GET", "POST"])} path=/api/${r.pick(["ds/query", "dashboards/uid/" + r.alnum(9), "search", "annotations"])} status=${r.weighted(HTTP_STATUSES)} remote_addr=${r.pick(x.pools.podIps)} time_ms=${Math.round(ms(r, 40))} duration=${ms(r, 40).toFixed(3)}ms size=${r.int(100, 90_000)} referer=https://grafana.example.com/d/${r.alnum(9)} handler=/api/ds/query status_source=server`;
      break;
    case "argocd-application-controller":
    case "argocd-repo-server":
      line = `time="${ts.slice(0, 19)}Z" level=${r.weighted([
        [85, "info"],
        [12, "warning"],
        [3, "error"],
      ] as const)} msg="${r.pick(["Reconciliation completed", "Refreshing app status (controller refresh requested)", "Comparing app state (cluster: https://kubernetes.default.svc, namespace: " + r.pick(["frontend", "orders", "catalog"]) + ")", "Updated health status: Progressing -> Healthy", "manifest cache hit"])}" application=argocd/${r.pick(["storefront", "orders-api", "catalog-api", "checkout", "monitoring-stack"])} dedup_ms=0 dest-name= dest-namespace=${r.pick(["frontend", "orders", "catalog"])} dest-server="https://kubernetes.default.svc" diff_ms=${r.int(0, 40)} fields.level=${r.int(0, 3)} git_ms=${r.int(0, 900)} health_ms=${r.int(0, 5)} live_ms=${r.int(0, 9)} settings_ms=0 sync_ms=${r.int(0, 3)} time_ms=${r.int(10, 1500)}`;
      break;
    default:
      line = `ts=${ts} caller=${r.pick(["head.go", "compact.go", "db.go", "dispatch.go", "notify.go", "scrape.go"])}:${r.int(100, 1500)} level=${r.weighted(
        [
          [80, "info"],
          [15, "warn"],
          [5, "error"],
        ] as const,
      )} component=${r.pick(["tsdb", "dispatcher", "scrape manager", "notifier"])} msg="${r.pick(["write block", "Head GC completed", "Deleting obsolete block", "Notify success", "Append failed", "Error on ingesting samples with different value but same timestamp"])}" ${r.pick([`mint=${1_780_000_000_000 + r.int(0, 1e9)} maxt=${1_780_007_200_000 + r.int(0, 1e9)} ulid=01J${r.alnum(23, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")} duration=${ms(r, 900).toFixed(3)}ms`, `receiver=${r.pick(["slack-oncall", "pagerduty"])} integration=${r.pick(["slack[0]", "pagerduty[0]"])} attempts=1`, `scrape_pool=serviceMonitor/${r.pick(["monitoring", "orders", "catalog"])}/${r.pick(["node-exporter", "api"])}/0 target=http://${r.pick(x.pools.podIps)}:${r.pick([9100, 8080, 9090])}/metrics num_dropped=${r.int(1, 50)}`])}`;
  }
  return { stream: "stderr", lines: [line] };
}

function coredns(x: Ctx, _t: number): Event {
  const r = x.rng;
  const svc = r.pick([
    "catalog-api.catalog",
    "orders-api.orders",
    "auth-service.auth",
    "payments-api.payments",
    "redis.cache",
    "postgres.orders",
    "kafka.data-pipeline",
    "kubernetes.default",
  ]);
  const type = r.weighted([
    [60, "A"],
    [35, "AAAA"],
    [5, "SRV"],
  ] as const);
  const external = r.chance(0.15);
  const name = external
    ? `${r.pick(["api.stripe.com", "s3.eu-west-1.amazonaws.com", "smtp-relay.internal", "api.carrier.example"])}.`
    : `${svc}.svc.cluster.local.`;
  const rcode = r.weighted([
    [85, "NOERROR"],
    [15, "NXDOMAIN"],
  ] as const);
  return {
    stream: "stdout",
    lines: [
      `[INFO] ${r.pick(x.pools.podIps)}:${r.int(32768, 61000)} - ${r.int(1, 65536)} "${type} IN ${name} ${r.pick(["udp", "udp", "tcp"])} ${r.int(40, 90)} false ${r.pick([512, 1232])}" ${rcode} qr,${external ? "" : "aa,"}rd${external ? ",ra" : ""} ${r.int(80, 400)} ${(ms(r, 0.2, 1.2) / 1000).toFixed(9).replace(/0+$/, "")}s`,
    ],
  };
}

function istiod(x: Ctx, t: number): Event {
  const r = x.rng;
  x.counter++;
  const text = r.pick([
    `info\tads\tPush debounce stable[${x.counter}] ${r.int(1, 12)} for config ${r.pick(["ServiceEntry", "Endpoints", "Pod", "DestinationRule"])} and ${r.int(0, 9)} more configs: ${ms(r, 100).toFixed(6)}ms since last change, ${ms(r, 200).toFixed(6)}ms in debounce`,
    `info\tads\tXDS: Pushing Services:${r.int(80, 140)} ConnectedEndpoints:${r.int(20, 60)} Version:${timeFormat.iso(t).slice(0, 19)}Z/${x.counter}`,
    `info\tads\tCDS: PUSH for node:${r.pick(["storefront", "catalog-api", "orders-api"])}-${r.alnum(10)}-${r.alnum(5)}.${r.pick(["frontend", "catalog", "orders"])} resources:${r.int(100, 300)} size:${r.int(50, 400)}.${r.int(0, 9)}kB cached:${r.int(0, 300)}/${r.int(100, 300)}`,
    `info\tads\tEDS: PUSH request for node:${r.pick(["checkout-service", "auth-service"])}-${r.alnum(10)}-${r.alnum(5)}.${r.pick(["checkout", "auth"])} resources:${r.int(50, 200)} size:${r.int(10, 90)}.${r.int(0, 9)}kB empty:0 cached:${r.int(0, 200)}/${r.int(50, 200)}`,
  ]);
  return { stream: "stderr", lines: [`${timeFormat.iso(t, 6)}\t${text}`] };
}

function fluentbit(x: Ctx, t: number): Event {
  const r = x.rng;
  const text = r.weighted<string>([
    [
      50,
      `[ info] [input:tail:tail.0] inotify_fs_add(): inode=${r.int(100_000, 9_999_999)} watch_fd=${r.int(1, 400)} name=/var/log/containers/${r.pick(["storefront", "catalog-api", "orders-api", "checkout-service"])}-${r.alnum(10)}-${r.alnum(5)}_${r.pick(["frontend", "catalog", "orders", "checkout"])}_${r.pick(["nginx", "istio-proxy", "catalog"])}-${r.hex(64)}.log`,
    ],
    [30, `[ info] [input:tail:tail.0] inotify_fs_remove(): inode=${r.int(100_000, 9_999_999)} watch_fd=${r.int(1, 400)}`],
    [
      15,
      `[ warn] [engine] failed to flush chunk '1-${Math.floor(t / 1e6)}.${r.int(100, 999)}.flb', retry in ${r.int(6, 60)} seconds: task_id=${r.int(0, 40)}, input=tail.0 > output=http.0 (out_id=0)`,
    ],
    [
      5,
      `[ info] [engine] flush chunk '1-${Math.floor(t / 1e6)}.${r.int(100, 999)}.flb' succeeded at retry 1: task_id=${r.int(0, 40)}, input=tail.0 > output=http.0 (out_id=0)`,
    ],
  ]);
  return { stream: "stderr", lines: [`[${timeFormat.slash(t)}] ${text}`] };
}

const FORMATS: Record<LineFormat, (x: Ctx, t: number) => Event> = {
  nginx,
  envoy,
  json,
  klog,
  java,
  goslog,
  python,
  celery,
  gunicorn,
  logfmt,
  coredns,
  istiod,
  fluentbit,
};

// ---------------------------------------------------------------------------------------------
// The corpus: every container's events merged in time order.

export type CorpusKind = "realistic" | "random" | "files";

export interface CorpusOptions {
  kind?: CorpusKind;
  /** kind files: the log files, one container each, their lines in file order. */
  files?: string[];
  /** kind files: lines per second of log time of each file (default 10). */
  filesRate?: number;
  seed?: number;
  /** Log time of the start, epoch ms (default 2026-11-24T08:00:00Z). */
  startMs?: number;
  /** A stack trace as one record ("\n"-joined) instead of one record per line. */
  joinStackTraces?: boolean;
}

export interface CorpusLine {
  /** Index into corpus.containers. */
  container: number;
  /** Epoch nanoseconds. */
  timeNs: bigint;
  stream: "stdout" | "stderr";
  log: string;
}

export const DEFAULT_START_MS = Date.UTC(2026, 10, 24, 8, 0, 0);

interface Cursor {
  x: Ctx;
  /** Lines of the current event still to emit, with their offsets (ns from the start). */
  pending: string[];
  pendingAt: number[];
  stream: "stdout" | "stderr";
  /** Offset (ns from the start) of the next pending line, or of the next event. */
  next: number;
  /** Offset of the next event. */
  nextEvent: number;
  /** The random-text generator of this container (random corpus only). */
  noise: Rng;
}

const PRINTABLE = new Uint8Array(95).map((_, i) => 0x20 + i);
const latin1 = new TextDecoder("latin1");

export class Corpus {
  readonly containers: CorpusContainer[];
  readonly kind: CorpusKind;
  readonly startMs: number;
  private readonly seed: number;
  private readonly joinStackTraces: boolean;

  constructor(options: CorpusOptions = {}) {
    this.kind = options.kind ?? "realistic";
    this.seed = options.seed ?? 1;
    this.startMs = options.startMs ?? DEFAULT_START_MS;
    this.joinStackTraces = options.joinStackTraces ?? false;
    if (this.kind === "files") {
      if (!options.files?.length) throw new Error("a files corpus needs files");
      this.files = options.files;
      this.filesRate = options.filesRate ?? 10;
      this.containers = fileContainers(this.files, this.seed);
    } else this.containers = corpusContainers(this.seed);
  }

  private readonly files: string[] = [];
  private readonly filesRate: number = 10;

  /** `limit` lines (Infinity: without end) of every container, in time order. */
  *lines(limit = Infinity): Generator<CorpusLine> {
    if (this.kind === "files") {
      yield* this.fileLines(limit);
      return;
    }
    const pools = poolsOf(this.seed);
    const cursors: Cursor[] = this.containers.map((c) => {
      const rng = new Rng(hashSeed(this.seed, c.index + 1));
      const first = Math.round(rng.exp(c.rate) * 1e9);
      return {
        x: { c, rng, pools, counter: 0 },
        pending: [],
        pendingAt: [],
        stream: "stdout",
        next: first,
        nextEvent: first,
        noise: new Rng(hashSeed(this.seed, c.index + 1, 0x5eed)),
      };
    });
    // A binary heap of cursors by `next`.
    const heap = cursors.slice().sort((a, b) => a.next - b.next);
    const down = (i: number) => {
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) return;
        const m = l + 1 < n && heap[l + 1]!.next < heap[l]!.next ? l + 1 : l;
        if (heap[m]!.next >= heap[i]!.next) return;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    };
    const startNs = BigInt(this.startMs) * 1_000_000n;
    const startUs = this.startMs * 1000;
    let emitted = 0;
    while (emitted < limit) {
      const cur = heap[0]!;
      if (cur.pending.length === 0) {
        // Make the event due at cur.nextEvent.
        const at = cur.nextEvent;
        const ev = FORMATS[cur.x.c.format as LineFormat](cur.x, startUs + Math.floor(at / 1000));
        const lines = this.joinStackTraces && ev.lines.length > 1 ? [ev.lines.join("\n")] : ev.lines;
        let t = at;
        // The lines of one write reach the runtime a few microseconds apart.
        for (const line of lines) {
          cur.pending.push(line);
          cur.pendingAt.push(t);
          t += 1000 + cur.x.rng.int(0, 4000);
        }
        cur.pending.reverse();
        cur.pendingAt.reverse();
        cur.stream = ev.stream;
        cur.nextEvent = Math.max(t, at + Math.round(cur.x.rng.exp(cur.x.c.rate) * 1e9));
        cur.next = cur.pendingAt[cur.pendingAt.length - 1]!;
        down(0);
        continue;
      }
      let log = cur.pending.pop()!;
      const at = cur.pendingAt.pop()!;
      if (this.kind === "random") log = randomText(cur.noise, Buffer.byteLength(log));
      yield { container: cur.x.c.index, timeNs: startNs + BigInt(at), stream: cur.stream, log };
      emitted++;
      cur.next = cur.pending.length > 0 ? cur.pendingAt[cur.pendingAt.length - 1]! : cur.nextEvent;
      down(0);
    }
  }

  /**
   * kind files: every line of every file (empty lines and a trailing "\r" dropped, as Fluent Bit's
   * tail input does), file i's line k at k / filesRate seconds after the start (plus i µs, so that
   * files never tie), merged in time order; each file is read whole.
   */
  private *fileLines(limit: number): Generator<CorpusLine> {
    const texts = this.files.map((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
        .filter((l) => l !== ""),
    );
    const stepNs = 1e9 / this.filesRate;
    const startNs = BigInt(this.startMs) * 1_000_000n;
    const at = (i: number, k: number) => Math.round(k * stepNs) + i * 1000;
    const next = texts.map(() => 0);
    for (let emitted = 0; emitted < limit; emitted++) {
      let best = -1;
      for (let i = 0; i < texts.length; i++)
        if (next[i]! < texts[i]!.length && (best < 0 || at(i, next[i]!) < at(best, next[best]!))) best = i;
      if (best < 0) return;
      const k = next[best]!++;
      yield { container: best, timeNs: startNs + BigInt(at(best, k)), stream: "stdout", log: texts[best]![k]! };
    }
  }

  /**
   * The lines cut into request batches as Fluent Bit's http output sends them: one container per
   * batch, at most `batch` lines, and every pending container sent at each flush tick of
   * `flushSeconds` of log time.
   */
  *batches(limit: number, batch = 1000, flushSeconds = 10): Generator<{ container: CorpusContainer; lines: CorpusLine[] }> {
    const pending = new Map<number, CorpusLine[]>();
    const tickNs = BigInt(Math.round(flushSeconds * 1e9));
    let nextTick = BigInt(this.startMs) * 1_000_000n + tickNs;
    for (const line of this.lines(limit)) {
      while (line.timeNs >= nextTick) {
        for (const [c, lines] of pending) yield { container: this.containers[c]!, lines };
        pending.clear();
        nextTick += tickNs;
      }
      let lines = pending.get(line.container);
      if (!lines) pending.set(line.container, (lines = []));
      lines.push(line);
      if (lines.length >= batch) {
        yield { container: this.containers[line.container]!, lines };
        pending.delete(line.container);
      }
    }
    for (const [c, lines] of pending) yield { container: this.containers[c]!, lines };
  }
}

function randomText(rng: Rng, length: number): string {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    let v = rng.u32();
    for (let k = 0; k < 4 && i + k < length; k++) {
      b[i + k] = PRINTABLE[v % 95]!;
      v = Math.floor(v / 95);
    }
  }
  return latin1.decode(b);
}

// ---------------------------------------------------------------------------------------------
// Fluent Bit records

/** The record's `kubernetes` map, as Fluent Bit's Kubernetes filter writes it. */
export function kubernetesOf(c: CorpusContainer): Record<string, unknown> {
  return {
    pod_name: c.pod,
    namespace_name: c.namespace,
    pod_id: c.podId,
    labels: c.labels,
    host: c.host,
    container_name: c.container,
    docker_id: c.dockerId,
    container_image: c.image,
  };
}

const kubernetesJson = new WeakMap<CorpusContainer, string>();

/** One record as Fluent Bit's http output (Format json, json_date_format double) writes it. */
export function fluentBitRecord(c: CorpusContainer, l: CorpusLine): string {
  let k = kubernetesJson.get(c);
  if (k === undefined) kubernetesJson.set(c, (k = JSON.stringify(kubernetesOf(c))));
  const us = l.timeNs / 1000n;
  const date = `${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, "0")}`;
  return `{"date":${date},"log":${JSON.stringify(l.log)},"stream":"${l.stream}","time":"${rfc3339Nano(l.timeNs)}","kubernetes":${k}}`;
}

/** A request body of Format json: an array of records. */
export function fluentBitBody(c: CorpusContainer, lines: CorpusLine[]): string {
  return `[${lines.map((l) => fluentBitRecord(c, l)).join(",")}]`;
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main() {
  const { values } = parseArgs({
    options: {
      lines: { type: "string", short: "n", default: "100000" },
      corpus: { type: "string", default: "realistic" },
      seed: { type: "string", default: "1" },
      format: { type: "string", default: "ndjson" },
      out: { type: "string", short: "o" },
      batch: { type: "string", default: "1000" },
      flush: { type: "string", default: "10" },
      start: { type: "string" },
      "join-stack-traces": { type: "boolean", default: false },
      stats: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`usage: bun bench/corpus.ts [--lines N] [--corpus realistic|random] [--seed S]
  [--format ndjson|fluentbit] [--out FILE (default stdout)] [--batch LINES] [--flush SECONDS]
  [--start RFC3339] [--join-stack-traces] [--stats]`);
    return;
  }
  if (values.corpus !== "realistic" && values.corpus !== "random")
    throw new Error(`--corpus: realistic or random, not ${values.corpus}`);
  if (values.format !== "ndjson" && values.format !== "fluentbit")
    throw new Error(`--format: ndjson or fluentbit, not ${values.format}`);
  const corpus = new Corpus({
    kind: values.corpus,
    seed: Number(values.seed),
    startMs: values.start ? Date.parse(values.start) : undefined,
    joinStackTraces: values["join-stack-traces"],
  });
  const limit = Number(values.lines);
  // Synchronous, buffered writes: a reader that stops early (| head) ends the run quietly.
  const fd = values.out ? openSync(values.out, "w") : 1;
  let buffered: string[] = [];
  let bufferedLength = 0;
  const sink = {
    write(s: string) {
      buffered.push(s);
      bufferedLength += s.length;
      if (bufferedLength > 1 << 20) this.flush();
    },
    flush() {
      if (buffered.length > 0) writeSync(fd, buffered.join(""));
      buffered = [];
      bufferedLength = 0;
    },
  };
  const stats = new Map<string, { lines: number; bytes: number }>();
  const count = (key: string, bytes: number) => {
    const s = stats.get(key) ?? { lines: 0, bytes: 0 };
    s.lines++;
    s.bytes += bytes;
    stats.set(key, s);
  };
  let lastNs = 0n;
  const tally = (l: CorpusLine) => {
    if (!values.stats) return;
    const c = corpus.containers[l.container]!;
    const bytes = Buffer.byteLength(l.log);
    count(`format ${c.format}`, bytes);
    count(`namespace ${c.namespace}`, bytes);
    count(`stream ${l.stream}`, bytes);
    count("total", bytes);
    lastNs = l.timeNs;
  };
  if (values.format === "ndjson") {
    for (const l of corpus.lines(limit)) {
      const c = corpus.containers[l.container]!;
      tally(l);
      sink.write(
        `{"time":"${rfc3339Nano(l.timeNs)}","namespace":"${c.namespace}","pod":"${c.pod}","container":"${c.container}","stream":"${l.stream}","log":${JSON.stringify(l.log)}}\n`,
      );
    }
  } else {
    let batches = 0;
    for (const b of corpus.batches(limit, Number(values.batch), Number(values.flush))) {
      for (const l of b.lines) tally(l);
      sink.write(fluentBitBody(b.container, b.lines) + "\n");
      batches++;
    }
    if (values.stats) console.error(`batches: ${batches} (${(limit / batches).toFixed(1)} lines per batch)`);
  }
  sink.flush();
  if (values.out) closeSync(fd);
  if (values.stats) {
    const total = stats.get("total")!;
    const minutes = Number(lastNs - BigInt(corpus.startMs) * 1_000_000n) / 6e10;
    console.error(
      `${corpus.kind} corpus, seed ${values.seed}: ${total.lines} lines, ${(total.bytes / total.lines).toFixed(1)} raw bytes per line, ${corpus.containers.length} containers, ${minutes.toFixed(1)} minutes of log time`,
    );
    for (const [key, s] of [...stats].sort((a, b) => a[0].localeCompare(b[0]) || b[1].lines - a[1].lines))
      if (key !== "total")
        console.error(
          `  ${key.padEnd(30)} ${String(s.lines).padStart(9)} lines ${((s.lines / total.lines) * 100).toFixed(1).padStart(5)}%  ${(s.bytes / s.lines).toFixed(0).padStart(5)} B/line`,
        );
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    // A reader that stops early (| head) is not an error.
    if ((e as { code?: string }).code !== "EPIPE") throw e;
  }
}
