// How big does a Cassandra data partition get for a chatty container? Writes a container at
// 2,000 lines/s of log time (200-byte lines) through the server for 120 s of log time, then
// reads every partition back and prints its rows and bytes.
//
//   bun bench/partitions.ts [--rate 2000] [--seconds 120] [--cassandra 127.0.0.1:9042]
import cassandra from "cassandra-driver";
import { parseArgs } from "node:util";
import { JsonBatchFactory, makeContainers, send } from "../scripts/insert.ts";
import { BUCKET_SECONDS } from "../src/store/cassandra.ts";
import { fmt, MB, startServer, table } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "120" },
    cassandra: { type: "string", default: "127.0.0.1:9042" },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const [host, port] = values.cassandra!.split(":");
const keyspace = `partitions_${Date.now()}`;
const server = await startServer([
  "--store",
  "cassandra",
  "--cassandra-keyspace",
  keyspace,
  "--cassandra-port",
  port ?? "9042",
  host!,
]);
const client = new cassandra.Client({
  contactPoints: [host!],
  localDataCenter: "datacenter1",
  keyspace,
  protocolOptions: { port: Number(port ?? 9042), maxVersion: 4 },
  encoding: { useBigIntAsLong: true },
});
try {
  const [c] = makeContainers("chatty", 1, 1, 1);
  // The generator puts lines 1 ms apart; scale log time so that `rate` lines fill a second.
  const perBatch = 1000;
  const factory = new JsonBatchFactory(c!, 0, perBatch, "json");
  const total = rate * seconds;
  const start = Date.UTC(2026, 4, 3, 12, 0, 0);
  const stride = 1000 / rate; // ms of log time per line
  for (let seq = 0; seq < total; seq += perBatch) {
    // Lines seq.. are 1 ms apart in the generator; place the batch at its 2,000 lines/s time.
    const batchStart = start + Math.round(seq * stride) - seq;
    const r = await send(server.url, {
      body: factory.make(batchStart, seq),
      headers: { "content-type": "application/json" },
      lines: perBatch,
      logBytes: 0,
      plainBytes: 0,
    });
    if (r.status !== 200) throw new Error(`write failed: ${r.status} ${r.body}`);
  }
  await client.connect();
  const buckets = await client.execute(
    "SELECT bucket FROM log_buckets WHERE namespace = ? AND pod_name = ? AND container_name = ? AND day = ?",
    [c!.namespace, c!.pod, c!.container, Math.floor(start / 86_400_000)],
    { prepare: true },
  );
  const rows: string[][] = [];
  let largest = { rows: 0, bytes: 0 };
  for (const b of buckets.rows) {
    let n = 0;
    let bytes = 0;
    let pageState: string | undefined;
    do {
      const rs = await client.execute(
        "SELECT ts, id, seq, stream, log, source FROM log_lines WHERE namespace = ? AND pod_name = ? AND container_name = ? AND bucket = ?",
        [c!.namespace, c!.pod, c!.container, b.bucket],
        { prepare: true, fetchSize: 5000, pageState },
      );
      for (const r of rs.rows) {
        n++;
        // Cell values as stored: four bigints, the stream and the line.
        bytes += 32 + Buffer.byteLength(r.stream as string) + Buffer.byteLength(r.log as string);
      }
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    if (n > largest.rows) largest = { rows: n, bytes };
    rows.push([new Date(Number(b.bucket)).toISOString(), fmt(n), fmt(bytes / MB, 1)]);
  }
  console.log(table(["partition (bucket start)", "rows", "MB of cell values"], rows));
  console.log(
    `\n${fmt(total)} lines at ${fmt(rate)} lines/s in ${BUCKET_SECONDS}-second buckets: largest partition ${fmt(largest.rows)} rows, ${fmt(largest.bytes / MB, 1)} MB of cell values.`,
  );
} finally {
  await server.stop();
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
  await client.shutdown();
}
