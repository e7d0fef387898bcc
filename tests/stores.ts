// Every store, for suites that run end to end on each: the embedded store on a temporary
// directory and the Cassandra store on the node at CASSANDRA_HOSTS (see tests/store/cassandra.test.ts).
import { afterAll, beforeAll } from "bun:test";
import cassandra from "cassandra-driver";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type AppConfig } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { CassandraStore, type CassandraStoreOptions } from "../src/store/cassandra.ts";
import { cassandraOptionsOf } from "../src/store/open.ts";
import { EmbeddedStore } from "../src/store/sqlite.ts";
import type { LogStore } from "../src/store/store.ts";

export interface StoreUnderTest {
  name: string;
  /** Opens the store; each distinct tag is a separate, empty store (a directory, a keyspace). */
  open: (tag?: string) => Promise<LogStore>;
  /** Deletes what open() created. */
  cleanup: () => Promise<void>;
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

export function storesUnderTest(suite: string): StoreUnderTest[] {
  const dir = mkdtempSync(join(tmpdir(), `logserver-${suite}-`));
  const { host, port } = cassandraEndpoint();
  const keyspaces = new Set<string>();
  return [
    {
      name: "embedded",
      open: async (tag = "main") => new EmbeddedStore({ dataDir: join(dir, tag) }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    },
    {
      name: "cassandra",
      open: (tag = "main") => {
        const keyspace = `kils_test_${process.pid}_${suite}_${tag}`.replace(/[^A-Za-z0-9_]/g, "_");
        keyspaces.add(keyspace);
        return CassandraStore.connect(cassandraTestOptions(keyspace));
      },
      cleanup: async () => {
        const client = new cassandra.Client({
          contactPoints: [host],
          localDataCenter: "datacenter1",
          protocolOptions: { port, maxVersion: 4 },
        });
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

/** A real HTTP server (Bun.serve on a free loopback port) in front of the app. */
export function serve(store: LogStore, config: Partial<AppConfig> = {}): { url: string; stop: () => Promise<void> } {
  const app = createApp(store, config);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => app.handle(request),
    maxRequestBodySize: 256 * 1024 * 1024,
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
