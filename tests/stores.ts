// Every store, for suites that run end to end on each: the embedded store on a temporary
// directory and the Cassandra store on the node at CASSANDRA_HOSTS (see tests/store/cassandra.test.ts).
import cassandra from "cassandra-driver";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type AppConfig } from "../src/app.ts";
import { CassandraStore } from "../src/store/cassandra.ts";
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
        return CassandraStore.connect({
          nodes: [host],
          port,
          keyspace,
          replicationStrategy: "SimpleStrategy",
          replicationFactors: { cluster: 1 },
          localDatacenter: "datacenter1",
          consistency: "LOCAL_QUORUM",
          writeConcurrency: 16,
          writeBufferSize: 100_000,
          retentionSeconds: 0,
          refreshSchemaDelay: 50,
        });
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
