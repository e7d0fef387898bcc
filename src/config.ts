// Every option is declared once: flag, environment variable, default and help text. Flags win
// over the environment, the environment over defaults. An invalid value is a ConfigError that
// names the option; main.ts prints it as one line and exits non-zero.
import { isIPv4, isIPv6 } from "node:net";
import { parseArgs } from "node:util";
import { CONSISTENCY_LEVELS, type ConsistencyName, type ReplicationStrategy } from "./store/cassandra-options.ts";
import { parseRetentionRules, type RetentionRule } from "./store/retention.ts";
import type { EmbeddedSync } from "./store/sqlite-schema.ts";

export type StoreKind = "embedded" | "cassandra";

export const TENANCY_MODES = ["none", "header"] as const;
export type Tenancy = (typeof TENANCY_MODES)[number];

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  bindAddress: string;
  port: number;
  store: StoreKind;
  dataDir: string;
  cassandraNodes: string[];
  cassandraPort: number;
  cassandraKeyspace: string;
  cassandraReplicationStrategy: ReplicationStrategy;
  cassandraReplicationFactors: Record<string, number>;
  cassandraLocalDatacenter: string;
  cassandraUsername: string;
  cassandraPassword: string;
  cassandraTls: boolean;
  cassandraTlsCaFile: string;
  cassandraTlsInsecure: boolean;
  cassandraConsistency: ConsistencyName;
  cassandraWriteConcurrency: number;
  cassandraWriteBufferSize: number;
  /** Seconds; 0 keeps lines forever. */
  retentionSeconds: number;
  /** Per-namespace overrides of retentionSeconds, first match wins. */
  retentionRules: RetentionRule[];
  maxBodySize: number;
  maxDecompressedSize: number;
  maxLineSize: number;
  /** Request bytes (bodies, decompressed, and their decoded records) being ingested at once. */
  maxInflightBytes: number;
  /** Lines that may wait for the embedded store's writer at once. */
  embeddedWriteBufferSize: number;
  embeddedSync: EmbeddedSync;
  /** Seconds a request body may take to arrive. */
  bodyTimeoutSeconds: number;
  dateKey: string;
  authBasic: string;
  authToken: string;
  authProtectAll: boolean;
  /** Where a request's tenant comes from: nowhere (one tenant) or X-Scope-OrgID. */
  tenancy: Tenancy;
  /** Users (hashed credentials, tenant, roles) and per-tenant limits; "" for none. */
  authFile: string;
  /** Default per-tenant ingest limits; 0: unlimited. */
  tenantIngestLinesPerSecond: number;
  tenantIngestBytesPerSecond: number;
  /** Default per-tenant longest query range, seconds; 0: unlimited. */
  tenantMaxQueryRangeSeconds: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsClientCaFile: string;
  enableProfiling: boolean;
  logLevel: LogLevel;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

interface OptionSpec {
  flag: string;
  env: string;
  key: keyof Config | "help" | "version";
  /** Default as printed by --help and parsed like any other value. */
  default: string;
  help: string;
  boolean?: boolean;
  parse: (value: string) => unknown;
  secret?: boolean;
}

const parseInteger =
  (min: number, max: number) =>
  (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new Error(`expected an integer, got "${value}"`);
    const n = Number(value.trim());
    if (n < min || n > max) throw new Error(`expected a value in [${min}, ${max}], got ${n}`);
    return n;
  };

const TRUE_WORDS = ["1", "t", "true", "yes", "on"];
const FALSE_WORDS = ["0", "f", "false", "no", "off"];

const parseBoolean = (value: string): boolean => {
  const v = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(v)) return true;
  if (FALSE_WORDS.includes(v) || v === "") return false;
  throw new Error(`expected true or false, got "${value}"`);
};

/** A word that, after a boolean flag, is its value (`--enable-profiling false`). */
const isBooleanWord = (word: string): boolean => [...TRUE_WORDS, ...FALSE_WORDS].includes(word.trim().toLowerCase());

// Valid DNS names, yet always a mistake as a node: a flag's value that lost its flag.
const NOT_NODES = ["true", "false", "yes", "no", "on", "off"];
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isHostName(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  const labels = name.split(".");
  // An all-numeric last label is no name ("1", "10.0.0.300"): only a dotted IPv4 address may look so.
  return name.length <= 253 && labels.every((l) => HOST_LABEL.test(l)) && !/^\d+$/.test(labels.at(-1)!);
}

/**
 * A Cassandra node as the driver takes it: a host name, an IPv4 or IPv6 address, optionally
 * with a port (`node1:9043`, `[::1]:9042`). Returns it trimmed; throws saying why not.
 */
export function parseNode(value: string): string {
  const node = value.trim();
  const fail = (why = ""): never => {
    throw new Error(`"${value}" is not a Cassandra node (host or host:port${why})`);
  };
  if (NOT_NODES.includes(node.toLowerCase())) fail("; a flag takes its value as --flag=false");
  let host = node;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(node);
  if (bracketed) {
    [, host, port] = bracketed as unknown as [string, string, string | undefined];
    if (!isIPv6(host)) fail();
  } else if (node.indexOf(":") !== node.lastIndexOf(":")) {
    if (!isIPv6(node)) fail(); // a bare IPv6 address: no port
  } else if (node.includes(":")) {
    [host, port] = node.split(":") as [string, string];
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    fail(`; the port must be 1-65535`);
  }
  if (!bracketed && !host.includes(":") && !isIPv4(host) && !isHostName(host)) fail();
  return node;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** "16MiB", "512k", "1048576" → bytes. */
export function parseSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`expected a size such as 16MiB, got "${value}"`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new Error(`expected a positive size, got "${value}"`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "7d", "12h", "30d", "0" → seconds. */
export function parseDuration(value: string): number {
  const v = value.trim();
  if (v === "0" || v === "") return 0;
  const m = /^(\d+)([smhdw])$/.exec(v);
  if (!m) throw new Error(`expected a duration such as 7d, 12h or 0 (keep forever), got "${value}"`);
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

const parseLogLevel = (value: string): LogLevel => {
  const v = value.trim().toLowerCase();
  if (/^[0-4]$/.test(v)) return LOG_LEVELS[Number(v)]!;
  const byName = LOG_LEVELS.find((l) => l === v || (l === "warn" && v === "warning"));
  if (!byName) throw new Error(`expected 0-4 or one of ${LOG_LEVELS.join(", ")}, got "${value}"`);
  return byName;
};

const parseReplicationFactors = (value: string): Record<string, number> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Error(`expected a JSON map such as {"dc1": 3}, got '${value}'`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`expected a JSON map such as {"dc1": 3}, got '${value}'`);
  }
  const entries = Object.entries(parsed);
  if (entries.length === 0) throw new Error("expected at least one replication factor");
  for (const [dc, rf] of entries) {
    if (!Number.isInteger(rf) || (rf as number) < 1) {
      throw new Error(`replication factor of "${dc}" must be a positive integer`);
    }
    if (!/^[\w.-]+$/.test(dc)) throw new Error(`invalid datacenter name "${dc}"`);
  }
  return parsed as Record<string, number>;
};

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: string): T => {
    const found = values.find((v) => v.toLowerCase() === value.trim().toLowerCase());
    if (!found) throw new Error(`expected one of ${values.join(", ")}, got "${value}"`);
    return found;
  };

const text = (value: string) => value;

/** Longest --body-timeout: Bun's idle timeout tops out at 255 s and must stay above it. */
export const MAX_BODY_TIMEOUT_SECONDS = 240;

export const OPTIONS: OptionSpec[] = [
  {
    flag: "bind-address",
    env: "IP",
    key: "bindAddress",
    default: "0.0.0.0",
    help: "IP address the HTTP server binds to.",
    parse: text,
  },
  {
    flag: "port",
    env: "PORT",
    key: "port",
    default: "8080",
    help: "HTTP port to listen on (0 picks a free port).",
    parse: parseInteger(0, 65535),
  },
  {
    flag: "store",
    env: "STORE",
    key: "store",
    default: "",
    help: "Where logs are kept: embedded or cassandra. Default: cassandra when Cassandra nodes are given, else embedded.",
    parse: oneOf(["embedded", "cassandra"] as const),
  },
  {
    flag: "data-dir",
    env: "DATA_DIR",
    key: "dataDir",
    default: "./data",
    help: "Directory of the embedded store's database.",
    parse: text,
  },
  {
    flag: "embedded-write-buffer-size",
    env: "EMBEDDED_WRITE_BUFFER_SIZE",
    key: "embeddedWriteBufferSize",
    default: "100000",
    help: "Lines that may wait for the embedded store's writer at once; beyond it writes get 503 with Retry-After.",
    parse: parseInteger(1, 100_000_000),
  },
  {
    flag: "embedded-sync",
    env: "EMBEDDED_SYNC",
    key: "embeddedSync",
    default: "full",
    help: "Embedded store durability: full (fsync at every commit: an acknowledged batch survives power loss) or normal (survives a crash of the process; power loss can take the last commits).",
    parse: oneOf(["full", "normal"] as const),
  },
  {
    flag: "cassandra-hosts",
    env: "CASSANDRA_HOSTS",
    key: "cassandraNodes",
    default: "",
    help: "Cassandra nodes, comma-separated (host or host:port); positional arguments do the same.",
    parse: (v) =>
      v
        .split(",")
        .filter((s) => s.trim() !== "")
        .map(parseNode),
  },
  {
    flag: "cassandra-port",
    env: "CASSANDRA_PORT",
    key: "cassandraPort",
    default: "9042",
    help: "Cassandra CQL port.",
    parse: parseInteger(1, 65535),
  },
  {
    flag: "cassandra-keyspace",
    env: "CASSANDRA_KEYSPACE",
    key: "cassandraKeyspace",
    default: "insight_logs",
    help: "Keyspace to use; created when missing.",
    parse: (v) => {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(v)) throw new Error(`expected a CQL identifier, got "${v}"`);
      return v;
    },
  },
  {
    flag: "cassandra-replication-strategy",
    env: "CASSANDRA_REPLICATION_STRATEGY",
    key: "cassandraReplicationStrategy",
    default: "SimpleStrategy",
    help: "Replication strategy used when the keyspace is created: SimpleStrategy or NetworkTopologyStrategy.",
    parse: oneOf(["SimpleStrategy", "NetworkTopologyStrategy"] as const),
  },
  {
    flag: "cassandra-replication-factors",
    env: "CASSANDRA_REPLICATION_FACTORS",
    key: "cassandraReplicationFactors",
    default: '{"cluster":1}',
    help: 'Replication factors as a JSON map: {"cluster": N} for SimpleStrategy, {"dc1": 3, "dc2": 3} for NetworkTopologyStrategy.',
    parse: parseReplicationFactors,
  },
  {
    flag: "cassandra-local-datacenter",
    env: "CASSANDRA_LOCAL_DATACENTER",
    key: "cassandraLocalDatacenter",
    default: "datacenter1",
    help: "The driver's local datacenter (load balancing, LOCAL_* consistency).",
    parse: text,
  },
  {
    flag: "cassandra-username",
    env: "CASSANDRA_USERNAME",
    key: "cassandraUsername",
    default: "",
    help: "Username for PasswordAuthenticator (optional).",
    parse: text,
  },
  {
    flag: "cassandra-password",
    env: "CASSANDRA_PASSWORD",
    key: "cassandraPassword",
    default: "",
    help: "Password for PasswordAuthenticator (optional).",
    parse: text,
    secret: true,
  },
  {
    flag: "cassandra-tls",
    env: "CASSANDRA_TLS",
    key: "cassandraTls",
    default: "false",
    help: "Connect to Cassandra over TLS.",
    boolean: true,
    parse: parseBoolean,
  },
  {
    flag: "cassandra-tls-ca-file",
    env: "CASSANDRA_TLS_CA_FILE",
    key: "cassandraTlsCaFile",
    default: "",
    help: "PEM file of the CA that signed the nodes' certificates (TLS).",
    parse: text,
  },
  {
    flag: "cassandra-tls-insecure",
    env: "CASSANDRA_TLS_INSECURE",
    key: "cassandraTlsInsecure",
    default: "false",
    help: "Skip verification of the nodes' certificates (TLS; testing only).",
    boolean: true,
    parse: parseBoolean,
  },
  {
    flag: "cassandra-consistency",
    env: "CASSANDRA_CONSISTENCY",
    key: "cassandraConsistency",
    default: "LOCAL_QUORUM",
    help: `Consistency level of writes and reads: ${CONSISTENCY_LEVELS.join(", ")}.`,
    parse: oneOf(CONSISTENCY_LEVELS),
  },
  {
    flag: "cassandra-write-concurrency",
    env: "CASSANDRA_WRITE_CONCURRENCY",
    key: "cassandraWriteConcurrency",
    default: "64",
    help: "Write requests (single-partition batches) in flight to Cassandra at once.",
    parse: parseInteger(1, 4096),
  },
  {
    flag: "cassandra-write-buffer-size",
    env: "CASSANDRA_WRITE_BUFFER_SIZE",
    key: "cassandraWriteBufferSize",
    default: "100000",
    help: "Lines that may wait for Cassandra at once; beyond it writes get 503 with Retry-After.",
    parse: parseInteger(1, 100_000_000),
  },
  {
    flag: "retention",
    env: "RETENTION",
    key: "retentionSeconds",
    default: "0",
    help: "How long lines are kept (e.g. 7d, 12h); 0 keeps them forever. Cassandra: TTL; embedded: periodic deletion.",
    parse: parseDuration,
  },
  {
    flag: "retention-rules",
    env: "RETENTION_RULES",
    key: "retentionRules",
    default: "",
    help: "Retention per namespace, overriding --retention, first match wins: [tenant/]namespace=duration, globs with *, e.g. kube-system=3d,team-a/*=30d (- names the default tenant; 0 keeps forever).",
    parse: parseRetentionRules,
  },
  {
    flag: "max-body-size",
    env: "MAX_BODY_SIZE",
    key: "maxBodySize",
    default: "16MiB",
    help: "Largest request body accepted on the wire (413 beyond).",
    parse: parseSize,
  },
  {
    flag: "max-decompressed-size",
    env: "MAX_DECOMPRESSED_SIZE",
    key: "maxDecompressedSize",
    default: "64MiB",
    help: "Largest request body accepted after decompression (413 beyond).",
    parse: parseSize,
  },
  {
    flag: "max-line-size",
    env: "MAX_LINE_SIZE",
    key: "maxLineSize",
    default: "1MiB",
    help: "Longest log line accepted (UTF-8 bytes); longer records are rejected.",
    parse: parseSize,
  },
  {
    flag: "max-inflight-bytes",
    env: "MAX_INFLIGHT_BYTES",
    key: "maxInflightBytes",
    default: "256MiB",
    help: "Request bytes (bodies, decompressed, and their decoded records) being ingested at once; a request that would exceed it waits briefly, then gets 429 with Retry-After.",
    parse: parseSize,
  },
  {
    flag: "body-timeout",
    env: "BODY_TIMEOUT",
    key: "bodyTimeoutSeconds",
    default: "60s",
    help: `Longest time a request body may take to arrive (408 beyond), e.g. 60s or 2m; at most ${MAX_BODY_TIMEOUT_SECONDS}s.`,
    parse: (v) => {
      const seconds = parseDuration(v);
      if (seconds <= 0) throw new Error(`expected a positive duration such as 60s, got "${v}"`);
      // Bun's idle timeout (at most 255 s) must stay above the body timeout.
      if (seconds > MAX_BODY_TIMEOUT_SECONDS) {
        throw new Error(`expected at most ${MAX_BODY_TIMEOUT_SECONDS}s (Bun's idle timeout tops out at 255 s), got "${v}"`);
      }
      return seconds;
    },
  },
  {
    flag: "date-key",
    env: "DATE_KEY",
    key: "dateKey",
    default: "date",
    help: "Record key that holds Fluent Bit's event time (its json_date_key); false: there is none.",
    parse: (v) => (["false", "off", "none"].includes(v.trim().toLowerCase()) ? "" : v.trim()),
  },
  {
    flag: "auth-basic",
    env: "AUTH_BASIC",
    key: "authBasic",
    default: "",
    help: "Require HTTP basic auth user:password for writes and queries.",
    parse: (v) => {
      if (v !== "" && !v.includes(":")) throw new Error("expected user:password");
      return v;
    },
    secret: true,
  },
  {
    flag: "auth-token",
    env: "AUTH_TOKEN",
    key: "authToken",
    default: "",
    help: "Require 'Authorization: Bearer <token>' for writes and queries.",
    parse: text,
    secret: true,
  },
  {
    flag: "auth-protect-all",
    env: "AUTH_PROTECT_ALL",
    key: "authProtectAll",
    default: "false",
    help: "Also require credentials for the health probe, /metrics and the docs.",
    boolean: true,
    parse: parseBoolean,
  },
  {
    flag: "tenancy",
    env: "TENANCY",
    key: "tenancy",
    default: "none",
    help: "none: one tenant; header: each request names its tenant in X-Scope-OrgID (401 without it), as Loki's clients send it. With --auth-file the credentials decide the tenant.",
    parse: oneOf(TENANCY_MODES),
  },
  {
    flag: "auth-file",
    env: "AUTH_FILE",
    key: "authFile",
    default: "",
    help: "YAML or JSON file of users (hashed basic or bearer credentials, tenant, roles write/read/metrics/admin) and per-tenant limits; reloaded on SIGHUP and when it changes. Not with --auth-basic/--auth-token.",
    parse: (v) => v.trim(),
  },
  {
    flag: "tenant-ingest-lines-per-second",
    env: "TENANT_INGEST_LINES_PER_SECOND",
    key: "tenantIngestLinesPerSecond",
    default: "0",
    help: "Lines per second each tenant may ingest (token bucket, bursts of 2 s); beyond it 429 with Retry-After. 0: unlimited. The auth file can set it per tenant.",
    parse: parseInteger(0, 1_000_000_000),
  },
  {
    flag: "tenant-ingest-bytes-per-second",
    env: "TENANT_INGEST_BYTES_PER_SECOND",
    key: "tenantIngestBytesPerSecond",
    default: "0",
    help: "Log bytes per second each tenant may ingest (e.g. 4MiB; token bucket, bursts of 2 s); beyond it 429 with Retry-After. 0: unlimited.",
    parse: (v) => (v.trim() === "0" ? 0 : parseSize(v)),
  },
  {
    flag: "tenant-max-query-range",
    env: "TENANT_MAX_QUERY_RANGE",
    key: "tenantMaxQueryRangeSeconds",
    default: "0",
    help: "Longest time range one query may span (e.g. 30d); longer ranges are refused with 400. 0: unlimited.",
    parse: parseDuration,
  },
  {
    flag: "tls-cert-file",
    env: "TLS_CERT_FILE",
    key: "tlsCertFile",
    default: "",
    help: "Serve HTTPS with this PEM certificate (chain); reloaded when the file changes. Needs --tls-key-file.",
    parse: (v) => v.trim(),
  },
  {
    flag: "tls-key-file",
    env: "TLS_KEY_FILE",
    key: "tlsKeyFile",
    default: "",
    help: "The PEM private key of --tls-cert-file; reloaded when it changes.",
    parse: (v) => v.trim(),
  },
  {
    flag: "tls-client-ca-file",
    env: "TLS_CLIENT_CA_FILE",
    key: "tlsClientCaFile",
    default: "",
    help: "Require client certificates signed by these PEM CAs (mutual TLS). Needs --tls-cert-file.",
    parse: (v) => v.trim(),
  },
  {
    flag: "enable-profiling",
    env: "ENABLE_PROFILING",
    key: "enableProfiling",
    default: "false",
    help: "Serve heap snapshots, CPU profiles and memory figures under /debug/.",
    boolean: true,
    parse: parseBoolean,
  },
  {
    flag: "log-level",
    env: "LOG_LEVEL",
    key: "logLevel",
    default: "2",
    help: "Log level: 0 error, 1 warn, 2 info, 3 debug, 4 trace (names work too).",
    parse: parseLogLevel,
  },
  {
    flag: "version",
    env: "",
    key: "version",
    default: "false",
    help: "Print the version and exit.",
    boolean: true,
    parse: parseBoolean,
  },
  { flag: "help", env: "", key: "help", default: "false", help: "Print this help and exit.", boolean: true, parse: parseBoolean },
];

export interface ParsedArgs {
  config: Config;
  help: boolean;
  version: boolean;
}

/** A value and where it came from, for error messages: "option --port", "environment variable PORT". */
type RawValues = Map<string, { value: string; from: string }>;

/** Parses each option's value (given, else its default) into a Config, and checks how they combine. */
function buildConfig(raw: RawValues): ParsedArgs {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const given = raw.get(o.flag);
    if (o.key === "store" && !given) continue; // derived below
    try {
      out[o.key] = o.parse(given?.value ?? o.default);
    } catch (e) {
      throw new ConfigError(`invalid value for ${given?.from ?? `option --${o.flag}`}: ${(e as Error).message}`);
    }
  }
  const config = out as unknown as Config & { help: boolean; version: boolean };
  if (!raw.has("store")) config.store = config.cassandraNodes.length > 0 ? "cassandra" : "embedded";
  if (config.store === "cassandra" && config.cassandraNodes.length === 0) {
    throw new ConfigError("option --store=cassandra needs Cassandra nodes (positional arguments or CASSANDRA_HOSTS)");
  }
  const rf = config.cassandraReplicationFactors;
  if (config.cassandraReplicationStrategy === "SimpleStrategy" && (Object.keys(rf).length !== 1 || rf.cluster === undefined)) {
    throw new ConfigError(
      'invalid value for option --cassandra-replication-factors: SimpleStrategy takes one factor named "cluster", e.g. {"cluster":3}',
    );
  }
  if ((config.tlsCertFile === "") !== (config.tlsKeyFile === "")) {
    throw new ConfigError("options --tls-cert-file and --tls-key-file go together: give both, or neither");
  }
  if (config.tlsClientCaFile !== "" && config.tlsCertFile === "") {
    throw new ConfigError("option --tls-client-ca-file needs --tls-cert-file and --tls-key-file (client certificates need TLS)");
  }
  if (config.authFile !== "" && (config.authBasic !== "" || config.authToken !== "")) {
    throw new ConfigError(
      "option --auth-file replaces --auth-basic and --auth-token: put those credentials in the file (see hash-password)",
    );
  }
  const { help, version, ...rest } = config;
  return { config: rest as Config, help, version };
}

/** Every option's default (the embedded store), as parseConfig([], {}) gives it. */
export const DEFAULT_CONFIG: Config = deepFreeze(buildConfig(new Map()).config);

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === "object" && v !== null) deepFreeze(v);
  return Object.freeze(value);
}

const specOf = (name: string): OptionSpec | undefined => OPTIONS.find((o) => o.flag === (name === "h" ? "help" : name));

// An option word: one or two dashes, a name that starts with a letter, maybe =value. Not "-", "--", "-1".
const OPTION_WORD = /^--?([A-Za-z][\w-]*)(=[\s\S]*)?$/;
const isKnownOption = (arg: string): boolean => specOf(OPTION_WORD.exec(arg)?.[1] ?? "") !== undefined;

/**
 * Rewrites argv into what parseArgs reads (every option declared as taking a string):
 * Go-style `-name` becomes `--name` (`-h` is --help); a boolean flag gets its value inline
 * (`--flag` → `--flag=true`, `--flag false` → `--flag=false`); a value that starts with a dash
 * is attached to its option (`-port -1` → `--port=-1`), as Go's flag package read it, unless
 * it is itself an option (then parseArgs reports the missing value).
 */
function normalizeArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = OPTION_WORD.exec(arg);
    if (!m) {
      out.push(arg); // a positional, "-", "--" (parseArgs' terminator) or a negative number
      continue;
    }
    const spec = specOf(m[1]!);
    const flag = `--${spec?.flag ?? m[1]}`;
    const next = argv[i + 1];
    if (!spec || m[2] !== undefined) out.push(flag + (m[2] ?? ""));
    else if (spec.boolean) {
      if (next !== undefined && isBooleanWord(next)) {
        out.push(`${flag}=${next}`);
        i++;
      } else out.push(`${flag}=true`);
    } else if (next !== undefined && next.startsWith("-") && !isKnownOption(next)) {
      out.push(`${flag}=${next}`);
      i++;
    } else out.push(flag);
  }
  return out;
}

/** parseArgs' errors, in our words: each names the option, on one line. */
function argsError(error: unknown): ConfigError {
  const { code, message } = error as { code?: string; message: string };
  const name = /'(-[^' ]*)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && name) return new ConfigError(`unknown option: ${name} (see --help)`);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && name) return new ConfigError(`option ${name} needs a value`);
  return new ConfigError(message.split("\n")[0]!);
}

/** Parses argv (without the program) and the environment into a Config. */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): ParsedArgs {
  const raw: RawValues = new Map();
  for (const o of OPTIONS) {
    const v = o.env ? env[o.env] : undefined;
    if (v !== undefined && v !== "") raw.set(o.flag, { value: v, from: `environment variable ${o.env}` });
  }
  let tokens;
  try {
    ({ tokens } = parseArgs({
      args: normalizeArgs(argv),
      options: Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: "string" as const }])),
      strict: true,
      allowPositionals: true,
      tokens: true,
    }));
  } catch (error) {
    throw argsError(error);
  }
  const nodes: string[] = [];
  for (const t of tokens) {
    if (t.kind === "option") raw.set(t.name, { value: t.value ?? "", from: `option --${t.name}` });
    else {
      // Cassandra nodes never start with a dash, so "--" has nothing to protect: a stray word.
      const word = t.kind === "positional" ? t.value : "--";
      try {
        nodes.push(parseNode(word));
      } catch (e) {
        throw new ConfigError(`invalid value for positional argument: ${(e as Error).message}`);
      }
    }
  }
  if (nodes.length > 0) raw.set("cassandra-hosts", { value: nodes.join(","), from: "positional arguments" });
  return buildConfig(raw);
}

/** The --help text: every option with its environment variable and default. */
export function helpText(program: string): string {
  const lines = [
    `usage: ${program} [OPTIONS] [<cassandra-node> ...]`,
    "",
    "Stores Kubernetes pod logs sent by Fluent Bit (POST /write) and answers queries for a",
    "container's lines in a time range (GET /query). Logs are kept in an embedded database",
    "under --data-dir, or in Apache Cassandra when Cassandra nodes are given.",
    "",
    "Options (flags win over environment variables; -name works as --name; a flag without",
    "<value> is on when given, and takes true or false too: --enable-profiling=false):",
  ];
  for (const o of OPTIONS) {
    const value = o.boolean ? "" : " <value>";
    lines.push(`  --${o.flag}${value}`);
    const meta = [
      o.env ? `env ${o.env}` : "",
      o.default !== "" && o.flag !== "help" && o.flag !== "version" ? `default ${o.default}` : "",
    ]
      .filter(Boolean)
      .join(", ");
    lines.push(`      ${o.help}${meta ? ` (${meta})` : ""}`);
  }
  return lines.join("\n");
}

/** The configuration as logged at start-up, secrets masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const o of OPTIONS) if (o.secret && out[o.key]) out[o.key] = "***";
  out.retentionRules = config.retentionRules.map((r) => r.text).join(",");
  return out;
}
