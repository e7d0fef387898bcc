import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULT_CONFIG, helpText, OPTIONS, parseConfig, parseDuration, parseSize } from "../src/config.ts";

/** The ConfigError parseConfig throws, or a failure naming what it returned instead. */
function configError(argv: string[], env: Record<string, string> = {}): ConfigError {
  let result: unknown;
  try {
    result = parseConfig(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)} ${JSON.stringify(env)}, got ${JSON.stringify(result)}`);
}

describe("configuration", () => {
  test("defaults match the original where it had the option", () => {
    const { config } = parseConfig([], {});
    expect(config).toMatchObject({
      bindAddress: "0.0.0.0",
      port: 8080,
      store: "embedded",
      dataDir: "./data",
      cassandraPort: 9042,
      cassandraKeyspace: "insight_logs",
      cassandraReplicationStrategy: "SimpleStrategy",
      cassandraReplicationFactors: { cluster: 1 },
      cassandraConsistency: "LOCAL_QUORUM",
      enableProfiling: false,
      logLevel: "info",
    });
  });

  test("environment variables apply and flags win over them", () => {
    const env = { PORT: "9000", IP: "127.0.0.1", ENABLE_PROFILING: "true", DATA_DIR: "/tmp/x", LOG_LEVEL: "debug" };
    expect(parseConfig([], env).config).toMatchObject({
      port: 9000,
      bindAddress: "127.0.0.1",
      enableProfiling: true,
      dataDir: "/tmp/x",
      logLevel: "debug",
    });
    const { config } = parseConfig(["--port", "9100", "--bind-address=::1", "--enable-profiling=false", "-log-level", "0"], env);
    expect(config).toMatchObject({ port: 9100, bindAddress: "::1", enableProfiling: false, logLevel: "error" });
  });

  test("positional Cassandra nodes select the cassandra store; --store overrides", () => {
    expect(parseConfig(["10.0.0.1", "10.0.0.2:9043"], {}).config).toMatchObject({
      store: "cassandra",
      cassandraNodes: ["10.0.0.1", "10.0.0.2:9043"],
    });
    expect(parseConfig([], { CASSANDRA_HOSTS: "a,b" }).config).toMatchObject({ store: "cassandra", cassandraNodes: ["a", "b"] });
    expect(parseConfig(["--store", "embedded", "10.0.0.1"], {}).config.store).toBe("embedded");
  });

  test("boolean flags take no value, an inline value or the next word when it is a boolean", () => {
    const profiling = (...argv: string[]) => parseConfig(argv, { ENABLE_PROFILING: "true" }).config;
    expect(profiling("--enable-profiling", "false")).toMatchObject({
      enableProfiling: false,
      store: "embedded",
      cassandraNodes: [],
    });
    for (const off of ["false", "FALSE", "0", "no", "Off", "f"]) {
      expect(profiling("--enable-profiling", off, "10.0.0.1")).toMatchObject({
        enableProfiling: false,
        cassandraNodes: ["10.0.0.1"],
      });
      expect(profiling(`--enable-profiling=${off}`).enableProfiling).toBe(false);
    }
    for (const on of ["true", "TRUE", "1", "yes", "on"]) {
      expect(parseConfig(["--enable-profiling", on], {}).config).toMatchObject({ enableProfiling: true, cassandraNodes: [] });
    }
    expect(parseConfig(["--enable-profiling"], {}).config.enableProfiling).toBe(true);
    // Not a boolean word: the flag is on and the word is what it always was, a node.
    expect(parseConfig(["--cassandra-tls", "node1", "--auth-protect-all"], {}).config).toMatchObject({
      cassandraTls: true,
      authProtectAll: true,
      cassandraNodes: ["node1"],
    });
    expect(parseConfig(["--cassandra-tls", "on", "--cassandra-tls-insecure", "yes", "n1"], {}).config).toMatchObject({
      cassandraTls: true,
      cassandraTlsInsecure: true,
      cassandraNodes: ["n1"],
    });
    // A value option's value may be a boolean word: it is that option's.
    expect(parseConfig(["--date-key", "false", "--version", "no"], {})).toMatchObject({
      config: { dateKey: "" },
      version: false,
    });
  });

  test("Go-style single-dash flags work as the original's users type them", () => {
    expect(
      parseConfig(["-port", "9090", "-enable-profiling", "-cassandra-keyspace=x", "-store=embedded"], {}).config,
    ).toMatchObject({
      port: 9090,
      enableProfiling: true,
      cassandraKeyspace: "x",
      store: "embedded",
    });
    expect(parseConfig(["-enable-profiling=false", "-cassandra-tls", "false"], { ENABLE_PROFILING: "1" }).config).toMatchObject({
      enableProfiling: false,
      cassandraTls: false,
    });
    expect(parseConfig(["-h"], {}).help).toBe(true);
    expect(parseConfig(["-help"], {}).help).toBe(true);
    expect(parseConfig(["-version"], {}).version).toBe(true);
    // A value that starts with a dash belongs to its option, as in Go's flag package.
    expect(parseConfig(["-cassandra-password", "-s3cret", "--auth-token", "-"], {}).config).toMatchObject({
      cassandraPassword: "-s3cret",
      authToken: "-",
    });
    expect(configError(["-port", "-1"]).message).toBe('invalid value for option --port: expected an integer, got "-1"');
    expect(configError(["-no-such-option"]).message).toBe("unknown option: --no-such-option (see --help)");
    expect(configError(["-1"]).message).toMatch(/^unknown option: -1\b/);
    expect(configError(["-port"]).message).toBe("option --port needs a value");
    expect(configError(["--port", "--enable-profiling"]).message).toBe("option --port needs a value");
  });

  test("a positional word that is no host is an error naming it, not a node", () => {
    for (const word of [
      "false",
      "true",
      "yes",
      "No",
      "--",
      "",
      "a b",
      "host:99999",
      "host:0",
      "host:",
      "-",
      "a,b",
      "1",
      "10.0.0.300",
      "[nohost]:1",
      "::g",
    ]) {
      const error = configError([word]);
      expect(error.message).toStartWith("invalid value for positional argument: ");
      expect(error.message).toContain(`"${word}" is not a Cassandra node (host or host:port`);
    }
    expect(configError(["--", "10.0.0.1"]).message).toContain('"--" is not a Cassandra node');
    const valid = [
      "10.0.0.1",
      "cassandra-0.cassandra.db.svc.cluster.local",
      "[::1]:9042",
      "::1",
      "node1:9043",
      "[fe80::1]",
      "db_1",
      "n1.local.",
    ];
    expect(parseConfig(valid, {}).config).toMatchObject({ store: "cassandra", cassandraNodes: valid });
  });

  test("CASSANDRA_HOSTS and --cassandra-hosts entries are checked the same way", () => {
    expect(parseConfig([], { CASSANDRA_HOSTS: " a, [::1]:9042,,b:9043 " }).config.cassandraNodes).toEqual([
      "a",
      "[::1]:9042",
      "b:9043",
    ]);
    expect(parseConfig(["--cassandra-hosts", "c1,c2:9043"], { CASSANDRA_HOSTS: "a" }).config.cassandraNodes).toEqual([
      "c1",
      "c2:9043",
    ]);
    expect(configError([], { CASSANDRA_HOSTS: "a,false" }).message).toBe(
      'invalid value for environment variable CASSANDRA_HOSTS: "false" is not a Cassandra node (host or host:port; a flag takes its value as --flag=false)',
    );
    expect(configError([], { CASSANDRA_HOSTS: "a b" }).message).toMatch(
      /^invalid value for environment variable CASSANDRA_HOSTS: "a b"/,
    );
    expect(configError(["--cassandra-hosts=x:70000"]).message).toMatch(/^invalid value for option --cassandra-hosts: "x:70000"/);
  });

  test("new options: in-flight bytes, the embedded store's buffer and durability", () => {
    expect(parseConfig([], {}).config).toMatchObject({
      maxInflightBytes: 256 * 1024 * 1024,
      embeddedWriteBufferSize: 100_000,
      embeddedSync: "full",
    });
    const env = { MAX_INFLIGHT_BYTES: "64MiB", EMBEDDED_WRITE_BUFFER_SIZE: "500", EMBEDDED_SYNC: "normal" };
    expect(parseConfig([], env).config).toMatchObject({
      maxInflightBytes: 64 * 1024 * 1024,
      embeddedWriteBufferSize: 500,
      embeddedSync: "normal",
    });
    expect(
      parseConfig(["--max-inflight-bytes", "1GiB", "--embedded-write-buffer-size=7", "--embedded-sync", "FULL"], env).config,
    ).toMatchObject({ maxInflightBytes: 1024 ** 3, embeddedWriteBufferSize: 7, embeddedSync: "full" });
    expect(configError(["--max-inflight-bytes", "lots"]).message).toMatch(/^invalid value for option --max-inflight-bytes:/);
    expect(configError([], { EMBEDDED_WRITE_BUFFER_SIZE: "0" }).message).toMatch(
      /^invalid value for environment variable EMBEDDED_WRITE_BUFFER_SIZE:/,
    );
    expect(configError(["--embedded-write-buffer-size", "100000001"]).message).toMatch(/--embedded-write-buffer-size/);
    expect(configError(["--embedded-sync", "off"]).message).toMatch(
      /^invalid value for option --embedded-sync: expected one of full, normal/,
    );
  });

  test("tenancy, auth file, tenant limits and TLS options, and how they combine", () => {
    expect(parseConfig([], {}).config).toMatchObject({
      tenancy: "none",
      authFile: "",
      tenantIngestLinesPerSecond: 0,
      tenantIngestBytesPerSecond: 0,
      tenantMaxQueryRangeSeconds: 0,
      tlsCertFile: "",
      tlsKeyFile: "",
      tlsClientCaFile: "",
    });
    const env = {
      TENANCY: "header",
      AUTH_FILE: "/etc/logserver/users.yaml",
      TENANT_INGEST_LINES_PER_SECOND: "5000",
      TENANT_INGEST_BYTES_PER_SECOND: "4MiB",
      TENANT_MAX_QUERY_RANGE: "30d",
      TLS_CERT_FILE: "/tls/tls.crt",
      TLS_KEY_FILE: "/tls/tls.key",
      TLS_CLIENT_CA_FILE: "/tls/ca.crt",
    };
    expect(parseConfig([], env).config).toMatchObject({
      tenancy: "header",
      authFile: "/etc/logserver/users.yaml",
      tenantIngestLinesPerSecond: 5000,
      tenantIngestBytesPerSecond: 4 * 1024 * 1024,
      tenantMaxQueryRangeSeconds: 30 * 86400,
      tlsCertFile: "/tls/tls.crt",
      tlsKeyFile: "/tls/tls.key",
      tlsClientCaFile: "/tls/ca.crt",
    });
    expect(configError(["--tenancy", "path"]).message).toMatch(
      /^invalid value for option --tenancy: expected one of none, header/,
    );
    expect(configError(["--tls-cert-file", "c.pem"]).message).toContain("--tls-cert-file and --tls-key-file go together");
    expect(configError(["--tls-key-file", "k.pem"]).message).toContain("--tls-cert-file and --tls-key-file go together");
    expect(configError(["--tls-client-ca-file", "ca.pem"]).message).toContain("--tls-client-ca-file needs --tls-cert-file");
    expect(configError(["--auth-file", "u.yaml", "--auth-token", "t"]).message).toContain("--auth-file replaces");
    expect(configError(["--auth-file", "u.yaml"], { AUTH_BASIC: "a:b" }).message).toContain("--auth-file replaces");
    expect(configError(["--tenant-ingest-lines-per-second", "-5"]).message).toMatch(/--tenant-ingest-lines-per-second/);
    expect(configError(["--tenant-max-query-range", "a month"]).message).toMatch(/--tenant-max-query-range/);
  });

  test("--body-timeout stays below Bun's longest idle timeout: at most 240 s", () => {
    expect(parseConfig(["--body-timeout", "240s"], {}).config.bodyTimeoutSeconds).toBe(240);
    expect(parseConfig(["--body-timeout", "4m"], {}).config.bodyTimeoutSeconds).toBe(240);
    expect(configError(["--body-timeout", "241s"]).message).toMatch(
      /^invalid value for option --body-timeout: expected at most 240s/,
    );
    expect(configError([], { BODY_TIMEOUT: "5m" }).message).toMatch(
      /^invalid value for environment variable BODY_TIMEOUT: expected at most 240s/,
    );
  });

  test("DEFAULT_CONFIG is every option's default, as parsing nothing gives it", () => {
    expect(DEFAULT_CONFIG).toEqual(parseConfig([], {}).config);
    expect(DEFAULT_CONFIG.store).toBe("embedded");
    const keys = OPTIONS.map((o) => o.key).filter((k) => k !== "help" && k !== "version");
    expect(Object.keys(DEFAULT_CONFIG).sort()).toEqual([...keys].sort());
    expect(Object.isFrozen(DEFAULT_CONFIG) && Object.isFrozen(DEFAULT_CONFIG.cassandraNodes)).toBe(true);
  });

  test("log levels accept 0-4 and names", () => {
    const levels = ["0", "1", "2", "3", "4", "error", "WARN", "warning", "Info", "debug", "trace"].map(
      (l) => parseConfig(["--log-level", l], {}).config.logLevel,
    );
    expect(levels).toEqual(["error", "warn", "info", "debug", "trace", "error", "warn", "warn", "info", "debug", "trace"]);
  });

  test("NetworkTopologyStrategy takes per-datacenter factors", () => {
    const { config } = parseConfig(
      [
        "--cassandra-replication-strategy",
        "NetworkTopologyStrategy",
        "--cassandra-replication-factors",
        '{"dc1":3,"dc2":2}',
        "n1",
      ],
      {},
    );
    expect(config.cassandraReplicationFactors).toEqual({ dc1: 3, dc2: 2 });
  });

  test("an invalid value is one error naming the option", () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--port", "http"], {}, /--port/],
      [[], { PORT: "70000" }, /PORT/],
      [["--store", "mysql"], {}, /--store/],
      [["--store", "cassandra"], {}, /--store=cassandra needs Cassandra nodes/],
      [["--log-level", "7"], {}, /--log-level/],
      [["--cassandra-replication-factors", "{dc1:3}"], {}, /--cassandra-replication-factors/],
      [["--cassandra-replication-factors", '{"dc1":3}'], {}, /SimpleStrategy takes one factor named "cluster"/],
      [["--cassandra-replication-strategy", "Everywhere"], {}, /--cassandra-replication-strategy/],
      [["--cassandra-keyspace", "drop table;"], {}, /--cassandra-keyspace/],
      [["--enable-profiling=maybe"], {}, /--enable-profiling/],
      [["--max-body-size", "lots"], {}, /--max-body-size/],
      [["--retention", "7 days"], {}, /--retention/],
      [["--auth-basic", "nopassword"], {}, /--auth-basic/],
      [["--no-such-option"], {}, /unknown option: --no-such-option/],
      [["--port"], {}, /--port needs a value/],
    ];
    for (const [argv, env, message] of cases) {
      let error: unknown;
      try {
        parseConfig(argv, env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("\n");
    }
  });

  test("sizes and durations", () => {
    expect(parseSize("16MiB")).toBe(16 * 1024 * 1024);
    expect(parseSize("512k")).toBe(512_000);
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseDuration("7d")).toBe(604800);
    expect(parseDuration("12h")).toBe(43200);
    expect(parseDuration("0")).toBe(0);
  });

  test("--help lists every option with its environment variable and default", () => {
    const text = helpText("kube-insight-logserver");
    for (const o of OPTIONS) {
      expect(text).toContain(`--${o.flag}`);
      if (o.env) expect(text).toContain(`env ${o.env}`);
    }
    expect(text).toContain("default 8080");
    expect(text).toContain("default insight_logs");
  });
});
