// Every store, for suites that run end to end on each: the embedded store on a temporary
// directory and the Cassandra store on the node at CASSANDRA_HOSTS (see tests/store/cassandra.test.ts).
// When `bun run test` found no Cassandra (CASSANDRA_UNAVAILABLE), each Cassandra suite is one
// failing test that says why.
import { afterAll, beforeAll, describe, test } from "bun:test";
import { Database } from "bun:sqlite";
import cassandra from "cassandra-driver";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type AppConfig } from "../src/app.ts";
import { DEFAULT_CONFIG, parseConfig } from "../src/config.ts";
import { serve as serveApp } from "../src/server.ts";
import { CassandraStore, type CassandraStoreOptions } from "../src/store/cassandra.ts";
import { cassandraOptionsOf } from "../src/store/open.ts";
import { EmbeddedStore } from "../src/store/sqlite.ts";
import type { LogStore } from "../src/store/store.ts";
import { storedLines } from "./helpers.ts";

export interface StoreUnderTest {
  name: string;
  /** Opens the store; each distinct tag is a separate, empty store (a directory, a keyspace). */
  open: (tag?: string) => Promise<LogStore>;
  /** Deletes what open() created. */
  cleanup: () => Promise<void>;
  /**
   * The label maps stored for a container, read from the store's own tables (not through the
   * service): what a test checks when the service has no route that shows labels.
   */
  labelsOf: (container: { namespace: string; pod: string; container: string }, tag?: string) => Promise<Record<string, string>[]>;
}

/** Why no Cassandra node is there for the tests (set by scripts/test.ts), or undefined. */
export function cassandraUnavailable(): string | undefined {
  return process.env.CASSANDRA_UNAVAILABLE || undefined;
}

/** Stands in for a Cassandra suite that cannot run: one failing test whose message is the reason. */
export function failCassandraSuite(name: string, reason: string): void {
  describe(name, () => {
    test("needs a Cassandra node", () => {
      throw new Error(reason);
    });
  });
}

export function cassandraEndpoint(): { host: string; port: number } {
  const [host, port] = (process.env.CASSANDRA_HOSTS ?? "127.0.0.1:9042").split(",")[0]!.split(":");
  return { host: host!, port: Number(port ?? 9042) };
}

/** Options for a store on the test node: the service's defaults, with a given keyspace. */
export function cassandraTestOptions(keyspace: string, over: Partial<CassandraStoreOptions> = {}): CassandraStoreOptions {
  const { host, port } = cassandraEndpoint();
  const config = parseConfig(
    ["--store", "cassandra", "--cassandra-keyspace", keyspace, "--cassandra-port", String(port), host],
    {},
  ).config;
  // Faster schema agreement in tests: the driver otherwise waits a second after each change.
  return { ...cassandraOptionsOf(config), refreshSchemaDelay: 50, ...over };
}

/** The stores a suite runs on; without Cassandra, its Cassandra half is one failing test instead. */
export function storesUnderTest(suite: string): StoreUnderTest[] {
  const dir = mkdtempSync(join(tmpdir(), `logserver-${suite}-`));
  const { host, port } = cassandraEndpoint();
  const keyspaces = new Set<string>();
  const embedded: StoreUnderTest = {
    name: "embedded",
    open: async (tag = "main") => new EmbeddedStore({ dataDir: join(dir, tag) }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    labelsOf: async (c, tag = "main") => {
      const db = new Database(join(dir, tag, "logs.sqlite"), { readonly: true });
      try {
        // The sources of the container's lines, from its chunks, in the order lines first used them.
        const labels: string[] = [];
        for (const l of storedLines(db)) {
          if (l.namespace !== c.namespace || l.pod !== c.pod || l.container !== c.container) continue;
          if (!labels.includes(l.source.labels)) labels.push(l.source.labels);
        }
        return labels.map((text) => JSON.parse(text) as Record<string, string>);
      } finally {
        db.close();
      }
    },
  };
  const unavailable = cassandraUnavailable();
  if (unavailable) {
    failCassandraSuite(`${suite} on the cassandra store`, unavailable);
    return [embedded];
  }
  const keyspaceOf = (tag: string) => `kils_test_${process.pid}_${suite}_${tag}`.replace(/[^A-Za-z0-9_]/g, "_");
  const cql = () =>
    new cassandra.Client({ contactPoints: [host], localDataCenter: "datacenter1", protocolOptions: { port, maxVersion: 4 } });
  return [
    embedded,
    {
      name: "cassandra",
      open: (tag = "main") => {
        const keyspace = keyspaceOf(tag);
        keyspaces.add(keyspace);
        return CassandraStore.connect(cassandraTestOptions(keyspace));
      },
      labelsOf: async (c, tag = "main") => {
        const client = cql();
        try {
          // As JSON, so that the driver's own map decoding plays no part in what is read.
          const rs = await client.execute(
            `SELECT JSON labels FROM ${keyspaceOf(tag)}.log_sources WHERE namespace = ? AND pod_name = ? AND container_name = ?`,
            [c.namespace, c.pod, c.container],
            { prepare: true },
          );
          return rs.rows.map((r) => (JSON.parse(r["[json]"] as string) as { labels: Record<string, string> }).labels);
        } finally {
          await client.shutdown();
        }
      },
      cleanup: async () => {
        const client = cql();
        try {
          await client.connect();
          for (const keyspace of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
        } finally {
          await client.shutdown();
        }
      },
    },
  ];
}

/** A real HTTP server on a free loopback port in front of the app, served as main.ts serves it. */
export function serve(store: LogStore, config: Partial<AppConfig> = {}): { url: string; stop: () => Promise<void> } {
  const app = createApp(store, config);
  const server = serveApp(app, {
    hostname: "127.0.0.1",
    port: 0,
    bodyTimeoutSeconds: config.bodyTimeoutSeconds ?? DEFAULT_CONFIG.bodyTimeoutSeconds,
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

/**
 * For a describe block: opens the store before its tests, serves it, and closes everything
 * after. `server(config)` starts another server over the same store with its own configuration.
 */
export function servedStore(s: StoreUnderTest): { readonly url: string; server: (config?: Partial<AppConfig>) => string } {
  let store: LogStore;
  let url = "";
  const servers: { stop: () => Promise<void> }[] = [];
  const server = (config: Partial<AppConfig> = {}) => {
    const srv = serve(store, config);
    servers.push(srv);
    return srv.url;
  };
  beforeAll(async () => {
    store = await s.open();
    url = server();
  }, 60_000);
  afterAll(async () => {
    for (const srv of servers) await srv.stop();
    await store.close();
    await s.cleanup();
  }, 60_000);
  return {
    get url() {
      return url;
    },
    server,
  };
}
