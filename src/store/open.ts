// Opens the store the configuration asks for.
import type { Config } from "../config.ts";
import { EmbeddedStore } from "./sqlite.ts";
import type { LogStore } from "./store.ts";

export async function openStore(config: Config): Promise<LogStore> {
  if (config.store === "embedded") {
    return new EmbeddedStore({ dataDir: config.dataDir, retentionSeconds: config.retentionSeconds });
  }
  throw new Error("the cassandra store is not available in this build yet; use --store embedded");
}
