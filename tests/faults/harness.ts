// The fault suite's parts: real server processes on fixed loopback ports (so that a restarted
// server answers where the client sends), the fault cluster of real Cassandra nodes (its own
// folder and ports, beside the project's node at 9042), health and memory samplers, and the table.
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { runningPid } from "../../scripts/cassandra.ts";
import { startServerProcess, type ServerProcess } from "../../scripts/server-process.ts";
import type { Census, SendStats } from "./client.ts";

export const root = path.resolve(import.meta.dir, "../..");
/** The fault cluster: its own folder and ports, so the project's node at 127.0.0.1:9042 is left alone. */
export const cluster = {
  base: path.join(root, ".cassandra", "faults"),
  port: Number(process.env.FAULTS_CASSANDRA_PORT ?? 19042),
  storagePort: Number(process.env.FAULTS_CASSANDRA_STORAGE_PORT ?? 17000),
};

export const full = process.env.FAULTS_FORM !== "short";

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A server process that can be killed and started again on the same port with the same options. */
export class Server {
  proc: ServerProcess | undefined;
  readonly url: string;
  restarts = 0;
  private constructor(
    private readonly port: number,
    private readonly args: string[],
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Every server started, so that a failed scenario leaves no process behind (see killAll). */
  static readonly all = new Set<Server>();

  static async killAll(): Promise<void> {
    await Promise.all([...Server.all].map((s) => s.kill()));
  }

  static async start(args: string[]): Promise<Server> {
    const s = new Server(await freePort(), args);
    Server.all.add(s);
    await s.startAgain();
    return s;
  }

  get pid(): number | undefined {
    return this.proc?.proc.pid;
  }

  async startAgain(): Promise<void> {
    // The port may still be held for a moment by a process that was just killed.
    for (let attempt = 0; ; attempt++) {
      try {
        this.proc = await startServerProcess(
          [
            process.execPath,
            "run",
            path.join(root, "src/main.ts"),
            "--port",
            String(this.port),
            "--bind-address",
            "127.0.0.1",
            ...this.args,
          ],
          { cwd: root, env: { ...process.env }, stderr: "inherit", timeoutMs: 60_000 },
        );
        return;
      } catch (error) {
        if (attempt >= 10) throw error;
        await Bun.sleep(500);
      }
    }
  }

  /** kill -9, then wait for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.proc.kill("SIGKILL");
    await p.proc.exited;
    this.proc = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.startAgain();
    this.restarts++;
  }

  /** SIGTERM; resolves with the exit code once it has stopped. */
  async terminate(): Promise<number> {
    const p = this.proc;
    if (!p) return 0;
    const code = await p.stop();
    this.proc = undefined;
    return code;
  }

  output(): string {
    return this.proc?.output() ?? "";
  }
}

/** Polls GET /write (the health probe) and remembers the sequence of statuses seen. */
export class HealthWatch {
  readonly seen: number[] = [];
  private running = true;
  private loop: Promise<void>;
  constructor(url: () => string, everyMs = 250) {
    this.loop = (async () => {
      while (this.running) {
        let status = 0;
        try {
          const res = await fetch(`${url()}/write`, { signal: AbortSignal.timeout(5_000) });
          status = res.status;
          await res.arrayBuffer();
        } catch {}
        if (this.seen.at(-1) !== status) this.seen.push(status);
        await Bun.sleep(everyMs);
      }
    })();
  }
  async stop(): Promise<number[]> {
    this.running = false;
    await this.loop;
    return this.seen;
  }
}

/** Samples a process's resident memory (VmRSS) and keeps the largest. */
export class RssWatch {
  maxBytes = 0;
  private running = true;
  private loop: Promise<void>;
  constructor(pid: () => number | undefined, everyMs = 200) {
    this.loop = (async () => {
      while (this.running) {
        const p = pid();
        if (p !== undefined) {
          try {
            const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
            this.maxBytes = Math.max(this.maxBytes, kb * 1024);
          } catch {}
        }
        await Bun.sleep(everyMs);
      }
    })();
  }
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return this.maxBytes;
  }
}

/** Pids of the fault cluster's node `node` (the JVM): for SIGSTOP / SIGCONT. */
export function nodePid(node: number): number {
  const pid = runningPid(node, cluster.base);
  if (pid === undefined) throw new Error(`fault cluster node ${node} is not running`);
  return pid;
}

export interface Row {
  scenario: string;
  stats: SendStats;
  census: Census;
  note: string;
}

export const rows: Row[] = [];

/** One row per scenario: what the issue asks for, and a note of what was done. */
export function table(): string {
  const head = ["scenario", "lines sent", "acknowledged", "stored", "lost", "duplicated", "503s seen", "longest unavailability"];
  const fmt = (n: number) => n.toLocaleString("en-US");
  const body = rows.map((r) => [
    r.scenario,
    fmt(r.stats.sent),
    fmt(r.stats.acknowledged),
    fmt(r.census.stored),
    fmt(r.stats.sent - r.census.stored),
    fmt(r.census.duplicated),
    fmt(r.stats.status503),
    `${(r.stats.longestUnavailableMs / 1000).toFixed(1)} s`,
  ]);
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const out = [line(head), line(head.map(() => "---")), ...body.map(line)];
  const notes = rows.map((r) => `- ${r.scenario}: ${r.note}`);
  return `${out.join("\n")}\n\n${notes.join("\n")}`;
}

export function writeTable(): string {
  const text = `Fault suite, ${full ? "full" : "short"} form, ${new Date().toISOString()}\n\n${table()}\n`;
  fs.mkdirSync(cluster.base, { recursive: true });
  fs.writeFileSync(path.join(cluster.base, `table-${full ? "full" : "short"}.md`), text);
  return text;
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
