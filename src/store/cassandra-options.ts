// The Cassandra store's options, apart from the store so that the option table (config.ts) can
// name the consistency levels without loading the driver.
import { RetentionPolicy, type RetentionRule } from "./retention.ts";
import type { StoreObserver } from "./store.ts";

export type ReplicationStrategy = "SimpleStrategy" | "NetworkTopologyStrategy";

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

export interface CassandraStoreOptions {
  nodes: string[];
  port: number;
  keyspace: string;
  replicationStrategy: ReplicationStrategy;
  replicationFactors: Record<string, number>;
  localDatacenter: string;
  username?: string;
  password?: string;
  tls?: boolean;
  tlsCaFile?: string;
  tlsInsecure?: boolean;
  consistency: ConsistencyName;
  writeConcurrency: number;
  writeBufferSize: number;
  /** The default retention (--retention), seconds; 0: forever. */
  retentionSeconds?: number;
  /** Per-namespace overrides of retentionSeconds (--retention-rules). */
  retentionRules?: readonly RetentionRule[];
  /** The retention of every namespace; when given, retentionSeconds and retentionRules are not read. */
  retention?: RetentionPolicy;
  /** Largest text sent in one request (MAX_REQUEST_BYTES): larger lines are rejected unsent. */
  maxRequestBytes?: number;
  /** A page read from one partition holds about this many bytes of text. */
  pageBytes?: number;
  /** Bytes of text read ahead of the page being streamed (pages of later partitions). */
  readAheadBytes?: number;
  observer?: StoreObserver;
  /**
   * A window's small chunks (one per request) are merged into few large ones once no write of
   * this process reached it for this long (ms; default 5000); negative: never by itself (tests
   * that look at chunks as written call compactNow).
   */
  compactAfterMs?: number;
  /** ... or as soon as this process wrote this many chunks to it (default 64). */
  compactChunks?: number;
  /**
   * At start, look for windows of recent streams left uncompacted by a server that stopped
   * before compacting them, and compact them (the server sets it; default false, so that a
   * test's store leaves other tests' windows alone).
   */
  recoverWindows?: boolean;
  /** Driver schema-refresh debounce (ms); tests lower it. */
  refreshSchemaDelay?: number;
}

/** The store's retention policy from its options. */
export function retentionOf(
  options: Pick<CassandraStoreOptions, "retention" | "retentionSeconds" | "retentionRules">,
): RetentionPolicy {
  return options.retention ?? new RetentionPolicy(options.retentionSeconds ?? 0, options.retentionRules ?? []);
}
