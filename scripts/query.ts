// Query client (replaces the original's scripts/query.py): prints one container's lines.
//
//   bun scripts/query.ts --namespace default --pod web-1 --container nginx --since 1h
//   bun scripts/query.ts -n default -p web-1 -c nginx --start 2026-05-03T02:13:00Z --end 2026-05-03T02:20:00Z
//   ... --json    prints the raw answer
import { parseArgs } from "node:util";

const DURATION = /^(\d+)([smhd])$/;
const UNIT: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://localhost:8080" },
      namespace: { type: "string", short: "n" },
      pod: { type: "string", short: "p" },
      container: { type: "string", short: "c" },
      start: { type: "string" },
      end: { type: "string" },
      since: { type: "string", default: "1h" },
      json: { type: "boolean", default: false },
      user: { type: "string" },
      token: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || !values.namespace || !values.pod || !values.container) {
    console.log(`usage: bun scripts/query.ts --namespace NS --pod POD --container C
  [--start RFC3339] [--end RFC3339] [--since 15m|2h|7d (when --start is not given; default 1h)]
  [--url URL] [--json] [--user USER:PASSWORD | --token TOKEN]`);
    process.exit(values.help ? 0 : 2);
  }
  let start = values.start;
  if (!start) {
    const m = DURATION.exec(values.since!);
    if (!m) throw new Error(`--since: expected e.g. 15m, 2h or 7d, got ${values.since}`);
    start = new Date(Date.now() - Number(m[1]) * UNIT[m[2]!]!).toISOString();
  }
  const q = new URLSearchParams({
    namespace: values.namespace,
    pod_name: values.pod,
    container_name: values.container,
    start_time: start,
  });
  if (values.end) q.set("end_time", values.end);
  const headers: Record<string, string> = {};
  if (values.user) headers.authorization = `Basic ${Buffer.from(values.user).toString("base64")}`;
  else if (values.token) headers.authorization = `Bearer ${values.token}`;
  const t0 = performance.now();
  const res = await fetch(`${values.url!.replace(/\/$/, "")}/query?${q}`, { headers });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) {
    console.error(`HTTP ${res.status}: ${text}`);
    process.exit(1);
  }
  if (values.json) {
    console.log(text);
    return;
  }
  const rows = (JSON.parse(text) as { log_rows: { time: string; log: string; stream: string }[] }).log_rows;
  for (const r of rows) console.log(`${r.time} ${r.stream === "stderr" ? "E" : " "} ${r.log}`);
  console.error(`${rows.length} lines in ${ms.toFixed(1)} ms`);
}

await main();
