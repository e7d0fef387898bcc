// `bun bench/tenants.ts`: what tenancy and credentials cost on the write path, side by side in
// one run on the embedded store: the same 400 msgpack batches of 1,000 lines through a server
// without credentials (the baseline), with a shared --auth-basic secret, with an auth file of
// argon2id users (four tenants, one writer each, X-Scope-OrgID sent too), and with that file plus
// per-tenant rate limits high enough never to refuse (the token buckets at work). Then the cost of
// a credential's first use (one argon2id verification) against its cached uses.
//
// Modes take turns over several rounds (machine noise lands on all of them); the table shows
// each mode's median round.
//
//   bun bench/tenants.ts [--batches 400] [--concurrency 4] [--rounds 3]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeBatch, makeContainers, send, type Batch } from "../scripts/insert.ts";
import { fmt, startServer, summarize, table } from "./lib.ts";

const { values: opts } = parseArgs({
  options: {
    batches: { type: "string", default: "400" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
  },
});
const BATCHES = Number(opts.batches);
const CONCURRENCY = Number(opts.concurrency);
const ROUNDS = Number(opts.rounds);
const TENANTS = ["team-a", "team-b", "team-c", "team-d"];
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

const dir = mkdtempSync(join(tmpdir(), "logserver-bench-tenants-"));
const authFile = join(dir, "users.yaml");
let yaml = "users:\n";
for (const t of TENANTS) {
  yaml += `  - name: ${t}-writer\n    password_hash: "${await Bun.password.hash(`pw-${t}`, { algorithm: "argon2id" })}"\n    tenant: ${t}\n    roles: [write, read]\n`;
}
writeFileSync(authFile, yaml);

/** Fresh batches for one run: distinct lines, so that no run meets another's (no resends). */
function batches(run: string): Batch[] {
  const containers = makeContainers(`bench-${run}`, 50, 10, 3);
  const start = Date.now() - 3_600_000;
  return Array.from({ length: BATCHES }, (_, i) =>
    makeBatch(containers[i % 50]!, i % 50, start, i * 1000, 1000, "msgpack", false),
  );
}

interface Mode {
  name: string;
  args: string[];
  /** The headers of sender `i`. */
  headers: (i: number) => Record<string, string>;
}

const MODES: Mode[] = [
  { name: "no credentials, one tenant (baseline)", args: [], headers: () => ({}) },
  {
    name: "--auth-basic (shared secret)",
    args: ["--auth-basic", "fluent:s3cret"],
    headers: () => ({ authorization: basic("fluent", "s3cret") }),
  },
  {
    name: "--auth-file, 4 tenants (argon2id users)",
    args: ["--auth-file", authFile, "--tenancy", "header"],
    headers: (i) => {
      const t = TENANTS[i % TENANTS.length]!;
      return { authorization: basic(`${t}-writer`, `pw-${t}`), "x-scope-orgid": t };
    },
  },
  {
    name: "--auth-file + rate limits (never reached)",
    args: [
      "--auth-file",
      authFile,
      "--tenancy",
      "header",
      "--tenant-ingest-lines-per-second",
      "100000000",
      "--tenant-ingest-bytes-per-second",
      "100GiB",
    ],
    headers: (i) => {
      const t = TENANTS[i % TENANTS.length]!;
      return { authorization: basic(`${t}-writer`, `pw-${t}`), "x-scope-orgid": t };
    },
  },
];

const results = new Map<number, { linesPerSecond: number; p50: number; p99: number }[]>();
for (let round = 0; round < ROUNDS; round++)
  for (const [m, mode] of MODES.entries()) {
    const data = join(dir, `data-${m}-${round}`);
    const server = await startServer(["--data-dir", data, "--embedded-sync", "normal", ...mode.args]);
    try {
      const pool = batches(`${m}-${round}`);
      // Warm-up: each sender's credentials once (the first use pays the hash), then the timed run.
      for (let i = 0; i < CONCURRENCY; i++) {
        const warm = makeBatch(makeContainers(`warm-${m}-${i}`, 1, 1, 1)[0]!, 0, Date.now() - 3_600_000, 0, 10, "msgpack", false);
        const r = await send(server.url, { ...warm, headers: { ...warm.headers, ...mode.headers(i) } });
        if (r.status !== 200) throw new Error(`${mode.name}: warm-up answered ${r.status} ${r.body}`);
      }
      let next = 0;
      const latencies: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, i) => {
          for (let b = next++; b < pool.length; b = next++) {
            const batch = pool[b]!;
            const r = await send(server.url, { ...batch, headers: { ...batch.headers, ...mode.headers(i) } });
            if (r.status !== 200) throw new Error(`${mode.name}: answered ${r.status} ${r.body}`);
            latencies.push(r.ms);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const s = summarize(latencies);
      const list = results.get(m) ?? [];
      list.push({ linesPerSecond: (pool.length * 1000) / seconds, p50: s.p50, p99: s.p99 });
      results.set(m, list);
    } finally {
      await server.stop();
      rmSync(data, { recursive: true, force: true });
    }
  }
const rows = MODES.map((mode, m) => {
  const list = results.get(m)!.sort((a, b) => a.linesPerSecond - b.linesPerSecond);
  const median = list[Math.floor(list.length / 2)]!;
  return [
    mode.name,
    fmt(median.linesPerSecond),
    list.map((r) => fmt(r.linesPerSecond)).join(" / "),
    fmt(median.p50, 1),
    fmt(median.p99, 1),
  ];
});
console.log(
  `\ningest, embedded store (--embedded-sync normal), ${BATCHES} msgpack batches of 1,000 lines, ${CONCURRENCY} clients, ${ROUNDS} rounds`,
);
console.log(table(["mode", "lines/s (median)", "each round", "p50 ms", "p99 ms"], rows));

// A credential's first use against its cached uses: GET /query, tiny answer.
const server = await startServer(["--data-dir", join(dir, "data-auth"), "--auth-file", authFile, "--tenancy", "header"]);
try {
  const timed = async (auth: string) => {
    const t = performance.now();
    const r = await fetch(`${server.url}/namespaces`, { headers: { authorization: auth } });
    await r.text();
    if (r.status !== 200) throw new Error(`answered ${r.status}`);
    return performance.now() - t;
  };
  const first: number[] = [];
  const cached: number[] = [];
  for (const t of TENANTS) first.push(await timed(basic(`${t}-writer`, `pw-${t}`)));
  for (let i = 0; i < 50; i++) for (const t of TENANTS) cached.push(await timed(basic(`${t}-writer`, `pw-${t}`)));
  const noAuth = await fetch(`${server.url}/namespaces`);
  console.log("\ncredential checks, GET /namespaces with an auth file (argon2id, Bun's default cost)");
  console.log(
    table(
      ["request", "n", "p50 ms", "p99 ms"],
      [
        [
          "a user's first request (one argon2id verification)",
          String(first.length),
          fmt(summarize(first).p50, 1),
          fmt(summarize(first).p99, 1),
        ],
        ["the same users again (cached)", String(cached.length), fmt(summarize(cached).p50, 2), fmt(summarize(cached).p99, 2)],
      ],
    ),
  );
  console.log(`without credentials: ${noAuth.status}`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
