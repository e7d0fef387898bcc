// `bun bench/original.ts --original <binary>`: the service against the Go original it replaces, on
// the same Cassandra node, in one run: ingest through POST /write and a 10k-line /query window.
//
//   bun bench/original.ts --original path/to/kube-insight-logserver-go [--lines 300000]
//                         [--concurrency 4] [--batch 1000] [--runs 20] [--rounds 2]
//                         [--cassandra 127.0.0.1:9042] [--server binary|source]
//
// The Go original is not in this repository: build it from its source (github.com/elastisys/
// kube-insight-logserver, vendored dependencies: GO111MODULE=off in a GOPATH) and give its path.
//
// Bodies: the realistic corpus (bench/corpus.ts) as Fluent Bit json bodies of one container each,
// at most `batch` lines, built before any clock starts. Each server gets a fresh keyspace; the
// two are fed in alternating rounds (each round sends a share of the bodies to the original,
// then the same share to the service), so that the node's state (compaction, caches) weighs on
// both alike. Ingest: lines/s over the rounds, each server's CPU (utime + stime, every thread) and
// the node's CPU over its own rounds, per 100,000 lines. Query: `runs` times the /query of the
// 10,000 lines of the busiest container that follow its first line (the same window on both),
// p50 and p99; both answers must hold the same lines.
import { cassandraAnswers, runningPid } from "../scripts/cassandra.ts";
import { parseArgs } from "node:util";
import cassandra from "cassandra-driver";
import { Corpus, fluentBitBody } from "./corpus.ts";
import { cpuSeconds, fmt, startServer, summarize, table } from "./lib.ts";
import { rfc3339Nano } from "./corpus.ts";

const { values: opts } = parseArgs({
  options: {
    original: { type: "string" },
    lines: { type: "string", default: "300000" },
    concurrency: { type: "string", default: "4" },
    batch: { type: "string", default: "1000" },
    runs: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
    cassandra: { type: "string", default: process.env.CASSANDRA_HOSTS?.split(",")[0] ?? "127.0.0.1:9042" },
    server: { type: "string", default: "binary" },
  },
});
if (!opts.original) throw new Error("--original: the path of a build of the Go original");
const LINES = Number(opts.lines);
const CONCURRENCY = Number(opts.concurrency);
const BATCH = Number(opts.batch);
const RUNS = Number(opts.runs);
const ROUNDS = Number(opts.rounds);
const [host, portText] = opts.cassandra!.split(":");
const PORT = Number(portText ?? 9042);
if (!(await cassandraAnswers(host!, PORT))) throw new Error(`no Cassandra answers at ${host}:${PORT}`);
const RUN_ID = Date.now().toString(36);

// The bodies, and the busiest container's lines (for the query window).
const corpus = new Corpus({ kind: "realistic" });
const bodies: string[] = [];
const bodyLines: number[] = [];
const perContainer = new Map<number, bigint[]>();
for (const batch of corpus.batches(LINES, BATCH, 3600)) {
  bodies.push(fluentBitBody(batch.container, batch.lines));
  bodyLines.push(batch.lines.length);
  let times = perContainer.get(batch.container.index);
  if (times === undefined) perContainer.set(batch.container.index, (times = []));
  for (const l of batch.lines) times.push(l.timeNs);
}
const [busiest, times] = [...perContainer].sort((a, b) => b[1].length - a[1].length)[0]!;
times.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const windowLines = Math.min(10_000, times.length);
const c = corpus.containers[busiest]!;
// Whole milliseconds: the original takes RFC 3339 times with at most millisecond precision in mind.
const startNs = (times[0]! / 1_000_000n) * 1_000_000n;
const endNs = times[windowLines - 1]!;
const queryPath = `/query?${new URLSearchParams({
  namespace: c.namespace,
  pod_name: c.pod,
  container_name: c.container,
  start_time: rfc3339Nano(startNs),
  end_time: rfc3339Nano(endNs),
})}`;
console.log(
  `${fmt(LINES)} lines in ${fmt(bodies.length)} bodies; query: ${c.namespace}/${c.pod}/${c.container}, ${fmt(windowLines)} lines`,
);

interface Target {
  name: string;
  url: string;
  pid: number;
  stop: () => Promise<void>;
  keyspace: string;
  seconds: number;
  lines: number;
  cpu: number;
  nodeCpu: number;
}

async function startOriginal(keyspace: string): Promise<Omit<Target, "name" | "seconds" | "lines" | "cpu" | "nodeCpu">> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = Bun.spawn(
    [
      opts.original!,
      "-port",
      String(port),
      "-bind-address",
      "127.0.0.1",
      "-cassandra-keyspace",
      keyspace,
      "-log-level",
      "1",
      host!,
    ],
    { env: { ...process.env, CASSANDRA_PORT: String(PORT) }, stdout: "ignore", stderr: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/write`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`the original exited with ${proc.exitCode}`);
    await Bun.sleep(100);
  }
  return {
    url,
    pid: proc.pid,
    keyspace,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function send(t: Target, from: number, to: number): Promise<void> {
  const nodePid = host === "127.0.0.1" && PORT === 9042 ? runningPid() : undefined;
  const cpu0 = cpuSeconds(t.pid);
  const node0 = nodePid === undefined ? 0 : cpuSeconds(nodePid);
  const t0 = performance.now();
  let next = from;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const i = next++;
        // A batch not answered 200 is sent again, byte-identical, as Fluent Bit does.
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${t.url}/write`, {
            method: "POST",
            body: bodies[i]!,
            headers: { "content-type": "application/json" },
          });
          await res.arrayBuffer();
          if (res.status === 200) break;
          if (attempt > 50) throw new Error(`${t.name}: body ${i} refused ${res.status}`);
          await Bun.sleep(100);
        }
        t.lines += bodyLines[i]!;
      }
    }),
  );
  t.seconds += (performance.now() - t0) / 1000;
  t.cpu += cpuSeconds(t.pid) - cpu0;
  if (nodePid !== undefined) t.nodeCpu += cpuSeconds(nodePid) - node0;
}

const original: Target = {
  name: "Go original",
  ...(await startOriginal(`orig_${RUN_ID}`)),
  seconds: 0,
  lines: 0,
  cpu: 0,
  nodeCpu: 0,
};
const oursServer = await startServer(
  ["--store", "cassandra", "--cassandra-keyspace", `ours_${RUN_ID}`, "--cassandra-port", String(PORT), host!],
  opts.server === "source" ? "source" : "binary",
);
const ours: Target = { name: "service", ...oursServer, keyspace: `ours_${RUN_ID}`, seconds: 0, lines: 0, cpu: 0, nodeCpu: 0 };
const targets = [original, ours];
try {
  for (let r = 0; r < ROUNDS; r++) {
    const from = Math.floor((bodies.length * r) / ROUNDS);
    const to = Math.floor((bodies.length * (r + 1)) / ROUNDS);
    for (const t of targets) await send(t, from, to);
  }
  // The window, `runs` times each, alternating.
  const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const answers = new Map<string, number>();
  for (let i = 0; i < RUNS + 2; i++) {
    for (const t of targets) {
      const t0 = performance.now();
      const res = await fetch(`${t.url}${queryPath}`);
      const body = (await res.json()) as { log_rows?: unknown[] };
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${t.name}: /query answered ${res.status}`);
      answers.set(t.name, body.log_rows?.length ?? 0);
      if (i >= 2) samples.get(t.name)!.push(ms); // two warm-up runs
    }
  }
  if (answers.get(original.name) !== answers.get(ours.name))
    console.log(`  note: the original returned ${answers.get(original.name)} lines, the service ${answers.get(ours.name)}`);
  const rows = targets.map((t) => {
    const q = summarize(samples.get(t.name)!);
    return [
      t.name,
      fmt(t.lines / t.seconds),
      fmt((t.cpu / t.lines) * 100_000, 2),
      t.nodeCpu > 0 ? fmt((t.nodeCpu / t.lines) * 100_000, 2) : "",
      fmt(answers.get(t.name)!),
      fmt(q.p50, 1),
      fmt(q.p99, 1),
    ];
  });
  console.log();
  console.log(
    table(["server", "ingest lines/s", "server CPU-s/100k", "Cassandra CPU-s/100k", "window rows", "p50 ms", "p99 ms"], rows),
  );
  const [o, s] = targets;
  console.log(
    `\nservice / original: ingest ${fmt(s!.lines / s!.seconds / (o!.lines / o!.seconds), 1)}x, ` +
      `10k window ${fmt(summarize(samples.get(o!.name)!).p50 / summarize(samples.get(s!.name)!).p50, 1)}x faster (p50)`,
  );
} finally {
  for (const t of targets) await t.stop().catch(() => {});
  const client = new cassandra.Client({
    contactPoints: [host!],
    localDataCenter: "datacenter1",
    protocolOptions: { port: PORT },
  });
  for (const t of targets) await client.execute(`DROP KEYSPACE IF EXISTS ${t.keyspace}`).catch(() => {});
  await client.shutdown();
}
