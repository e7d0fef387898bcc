import { describe, expect, test } from "bun:test";
import { ConfigError, helpText, OPTIONS, parseConfig, parseDuration, parseSize } from "../src/config.ts";

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
