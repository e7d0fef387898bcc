// Opens the store the configuration asks for.
import type { Config } from "../config.ts";
import { EmbeddedStore } from "./sqlite.ts";
import type { CassandraStoreOptions } from "./cassandra.ts";
import { RetentionPolicy } from "./retention.ts";
import type { LogStore, StoreObserver } from "./store.ts";

export async function openStore(config: Config, observer?: StoreObserver): Promise<LogStore> {
  const retention = retentionPolicyOf(config);
  if (config.store === "embedded") {
    return new EmbeddedStore({
      dataDir: config.dataDir,
      retention,
      writeBufferSize: config.embeddedWriteBufferSize,
      sync: config.embeddedSync,
      observer,
    });
  }
  const { CassandraStore } = await import("./cassandra.ts");
  return CassandraStore.connect({ ...cassandraOptionsOf(config), retention, observer, recoverWindows: true });
}

/** The retention of every namespace: --retention, overridden by --retention-rules. */
export function retentionPolicyOf(config: Pick<Config, "retentionSeconds" | "retentionRules">): RetentionPolicy {
  return new RetentionPolicy(config.retentionSeconds, config.retentionRules ?? []);
}

/** The Cassandra store's options from the configuration. */
export function cassandraOptionsOf(config: Config): CassandraStoreOptions {
  return {
    nodes: config.cassandraNodes,
    port: config.cassandraPort,
    keyspace: config.cassandraKeyspace,
    replicationStrategy: config.cassandraReplicationStrategy,
    replicationFactors: config.cassandraReplicationFactors,
    localDatacenter: config.cassandraLocalDatacenter,
    username: config.cassandraUsername,
    password: config.cassandraPassword,
    tls: config.cassandraTls,
    tlsCaFile: config.cassandraTlsCaFile,
    tlsInsecure: config.cassandraTlsInsecure,
    consistency: config.cassandraConsistency,
    writeConcurrency: config.cassandraWriteConcurrency,
    writeBufferSize: config.cassandraWriteBufferSize,
    retentionSeconds: config.retentionSeconds,
    retentionRules: config.retentionRules,
  };
}
