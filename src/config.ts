// Every option is declared once: flag, environment variable, default and help text. Flags win
// over the environment, the environment over defaults. An invalid value is a ConfigError that
// names the option; main.ts prints it as one line and exits non-zero.

export type StoreKind = "embedded" | "cassandra";
export type ReplicationStrategy = "SimpleStrategy" | "NetworkTopologyStrategy";

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CONSISTENCY_LEVELS = [
  "ANY",
  "ONE",
  "TWO",
  "THREE",
  "QUORUM",
  "ALL",
  "LOCAL_QUORUM",
  "EACH_QUORUM",
  "LOCAL_ONE",
] as const;
export type ConsistencyName = (typeof CONSISTENCY_LEVELS)[number];

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
  maxBodySize: number;
  maxDecompressedSize: number;
  maxLineSize: number;
  /** Seconds a request body may take to arrive. */
  bodyTimeoutSeconds: number;
  dateKey: string;
  authBasic: string;
  authToken: string;
  authProtectAll: boolean;
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

const parseBoolean = (value: string): boolean => {
  const v = value.trim().toLowerCase();
  if (["1", "t", "true", "yes", "on"].includes(v)) return true;
  if (["0", "f", "false", "no", "off", ""].includes(v)) return false;
  throw new Error(`expected true or false, got "${value}"`);
};

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
    flag: "cassandra-hosts",
    env: "CASSANDRA_HOSTS",
    key: "cassandraNodes",
    default: "",
    help: "Cassandra nodes, comma-separated (host or host:port); positional arguments do the same.",
    parse: (v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
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
    flag: "body-timeout",
    env: "BODY_TIMEOUT",
    key: "bodyTimeoutSeconds",
    default: "60s",
    help: "Longest time a request body may take to arrive (408 beyond), e.g. 60s or 2m.",
    parse: (v) => {
      const seconds = parseDuration(v);
      if (seconds <= 0) throw new Error(`expected a positive duration such as 60s, got "${v}"`);
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

/** Parses argv (without the program) and the environment into a Config. */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): ParsedArgs {
  const raw = new Map<string, { value: string; from: string }>();
  for (const o of OPTIONS) {
    const v = o.env ? env[o.env] : undefined;
    if (v !== undefined && v !== "") raw.set(o.flag, { value: v, from: `environment variable ${o.env}` });
  }
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    // Go's flag package accepted -flag as well as --flag; keep both.
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const spec = OPTIONS.find((o) => o.flag === name) ?? (name === "h" ? OPTIONS.find((o) => o.flag === "help") : undefined);
    if (!spec) throw new ConfigError(`unknown option: --${name} (see --help)`);
    let value: string;
    if (eq !== -1) value = body.slice(eq + 1);
    else if (spec.boolean) value = "true";
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new ConfigError(`option --${name} needs a value`);
    raw.set(spec.flag, { value, from: `option --${spec.flag}` });
  }
  if (positional.length > 0) raw.set("cassandra-hosts", { value: positional.join(","), from: "positional arguments" });

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
  const { help, version, ...rest } = config;
  return { config: rest as Config, help, version };
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
    "Options (flags win over environment variables):",
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
  return out;
}
