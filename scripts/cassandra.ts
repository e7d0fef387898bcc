// Runs real Apache Cassandra 5.0 nodes from Maven Central jars (no Docker needed): one node by
// default, or a local cluster of up to 9 on the loopback range (127.0.0.1, 127.0.0.2, ...; the
// same ports on each address, one data folder each, 127.0.0.1 the seed).
//   bun run scripts/cassandra.ts start [--nodes N] [--node I] | stop [--node I] [--kill] [--wipe] | status
// Node 1 lives in <repo>/.cassandra/ (git-ignored): lib/ (jars, shared), conf/, run/ (data), logs/,
// tmp/; node I > 1 in .cassandra/node<I>/. The cluster's size is kept in .cassandra/cluster.json,
// so that `start --node 2` brings back node 2 of the cluster it belongs to.
// Env: JAVA_HOME, CASSANDRA_HEAP (default 1G for one node, 768M each for a cluster),
//      CASSANDRA_PORT (9042), CASSANDRA_STORAGE_PORT (7000), CASSANDRA_COMMITLOG (group: an
//      acknowledged write is on disk; periodic or batch), CASSANDRA_SKIP_SYNC=1 (no fsync:
//      throwaway test data only), CASSANDRA_START_TIMEOUT_S (180), CASSANDRA_DIR (the cluster
//      folder, default .cassandra; the jars stay in .cassandra/lib).
// See /work/shared/notes/cassandra-from-maven.md for where the flags and yaml come from.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

const root = path.resolve(import.meta.dir, "..");
// CASSANDRA_DIR: another cluster folder (a second cluster beside the project's node, on other ports).
const base = process.env.CASSANDRA_DIR ? path.resolve(process.env.CASSANDRA_DIR) : path.join(root, ".cassandra");

/** The folders and files of node `node` (1-based) of the cluster kept in `clusterBase`. */
export function nodePaths(node = 1, clusterBase = base) {
  const dir = node === 1 ? clusterBase : path.join(clusterBase, `node${node}`);
  return {
    dir,
    address: `127.0.0.${node}`,
    conf: path.join(dir, "conf"),
    yaml: path.join(dir, "conf", "cassandra.yaml"),
    logback: path.join(dir, "conf", "logback.xml"),
    run: path.join(dir, "run"),
    logs: path.join(dir, "logs"),
    tmp: path.join(dir, "tmp"),
    pidFile: path.join(dir, "cassandra.pid"),
    stdoutLog: path.join(dir, "logs", "stdout.log"),
    systemLog: path.join(dir, "logs", "system.log"),
  };
}
export type NodePaths = ReturnType<typeof nodePaths>;

export const paths = {
  root,
  base,
  pom: path.join(root, "scripts", "cassandra", "pom.xml"),
  lib: path.join(root, ".cassandra", "lib"),
  libMarker: path.join(root, ".cassandra", "lib", ".complete"),
  ...nodePaths(1),
};

/** How the commit log reaches the disk: group and batch sync before acknowledging, periodic every 10 s. */
export type CommitlogSync = "group" | "periodic" | "batch";
export const MAX_NODES = 9;

const envInt = (name: string, def: number) => {
  const v = process.env[name];
  if (!v) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v} is not a positive integer`);
  return n;
};
export const defaultPort = () => envInt("CASSANDRA_PORT", 9042);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- CQL probe -------------------------------------------------------------------------------
// A protocol v4 STARTUP frame; a real node replies READY (0x02) or AUTHENTICATE (0x03).
function startupFrame(): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    const l = Buffer.alloc(2);
    l.writeUInt16BE(b.length);
    return Buffer.concat([l, b]);
  };
  const body = Buffer.concat([Buffer.from([0, 1]), str("CQL_VERSION"), str("3.0.0")]);
  const head = Buffer.from([0x04, 0, 0, 1, 0x01, 0, 0, 0, 0]);
  head.writeInt32BE(body.length, 5);
  return Buffer.concat([head, body]);
}

/** True if a CQL server completes a STARTUP round trip at host:port. */
export function cassandraAnswers(host = "127.0.0.1", port = defaultPort(), timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on("error", () => finish(false));
    sock.on("close", () => finish(false));
    sock.on("connect", () => sock.write(startupFrame()));
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 9) return;
      finish(buf[0] === 0x84 && (buf[4] === 0x02 || buf[4] === 0x03));
    });
  });
}

function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const finish = (v: boolean) => {
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    const t = setTimeout(() => finish(false), 1000);
    sock.on("connect", () => finish(true));
    sock.on("error", () => finish(false));
  });
}

// --- process bookkeeping ---------------------------------------------------------------------
// A pid only counts if it is alive, not a zombie, and (where /proc exists) really our Cassandra:
// pids get reused after reboots or crashes.
function isOurCassandra(pid: number, node: NodePaths = paths): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))) return false;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes("CassandraDaemon") && cmd.includes(node.yaml);
  } catch {
    return !fs.existsSync("/proc/self"); // no /proc (macOS): trust kill(0)
  }
}

/** Pid of a node this harness started (node 1 by default), from its pid file or (if that was lost) /proc. */
export function runningPid(node = 1, clusterBase = base): number | undefined {
  const p = nodePaths(node, clusterBase);
  try {
    const pid = Number(fs.readFileSync(p.pidFile, "utf8").trim());
    if (pid > 0 && isOurCassandra(pid, p)) return pid;
  } catch {}
  try {
    for (const e of fs.readdirSync("/proc")) if (/^\d+$/.test(e) && isOurCassandra(Number(e), p)) return Number(e);
  } catch {}
  return undefined;
}

/** What `start --nodes N` last set up in a cluster folder: later commands act on the same nodes. */
export interface ClusterFile {
  nodes: number;
  port: number;
  storagePort: number;
}
export function readCluster(clusterBase = base): ClusterFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(clusterBase, "cluster.json"), "utf8")) as ClusterFile;
  } catch {
    return undefined;
  }
}

/** The token of node `node` of `nodes`: evenly spaced on Murmur3's ring, node 1 at 0 as it always was. */
export function tokenOf(node: number, nodes: number): string {
  const span = 1n << 64n;
  let t = ((BigInt(node - 1) * span) / BigInt(nodes)) % span;
  if (t >= 1n << 63n) t -= span;
  return String(t);
}

// --- jars and config -------------------------------------------------------------------------
async function ensureJars(log: (m: string) => void): Promise<void> {
  const pomHash = createHash("sha256").update(fs.readFileSync(paths.pom)).digest("hex");
  if (fs.existsSync(paths.libMarker) && fs.readFileSync(paths.libMarker, "utf8").trim() === pomHash) return;
  log("Resolving Cassandra jars with Maven (first run: may take a few minutes)...");
  const partial = paths.lib + ".partial";
  fs.rmSync(partial, { recursive: true, force: true });
  const t0 = Date.now();
  let proc;
  try {
    proc = Bun.spawn(
      [
        "mvn",
        "-B",
        "-q",
        "-f",
        paths.pom,
        "-Dstyle.color=never",
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        `-DoutputDirectory=${partial}`,
        "-DincludeScope=runtime",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
  } catch (e) {
    throw new Error(`cannot run mvn (is Maven installed and on PATH?): ${e}`);
  }
  // Maven's output is only noise (ANSI resets) unless it fails.
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0)
    throw new Error(`mvn dependency resolution failed (exit ${code}):\n${(out + err).trim().split("\n").slice(-40).join("\n")}`);
  if (!fs.readdirSync(partial).some((f) => f.startsWith("cassandra-all-")))
    throw new Error("mvn did not produce cassandra-all jar");
  // Swap in atomically-ish so an interrupted run never leaves a half-filled lib/ marked complete.
  fs.rmSync(paths.lib, { recursive: true, force: true });
  fs.renameSync(partial, paths.lib);
  fs.writeFileSync(paths.libMarker, pomHash + "\n");
  log(`Jars ready in ${paths.lib} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** The commit-log lines of cassandra.yaml for a sync mode. */
export function commitlogYaml(sync: CommitlogSync): string {
  // group: writes wait for the next sync of the log (at most 15 ms apart) before they are
  // acknowledged, so a kill -9 or a power loss keeps every acknowledged write. periodic
  // acknowledges at once and syncs every 10 s: a crash loses up to the last 10 s of acknowledged
  // writes, which only other replicas can make good.
  if (sync === "group") return "commitlog_sync: group\ncommitlog_sync_group_window: 15ms";
  if (sync === "batch") return "commitlog_sync: batch";
  return "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms";
}

function writeConfig(p: NodePaths, node: number, nodes: number, port: number, storagePort: number, sync: CommitlogSync): void {
  const r = (d: string) => path.join(p.run, d);
  // Loopback addresses everywhere (never localhost): the seed must equal the seed node's
  // listen_address:storage_port or gossip waits 30-60 s. Node 1 is the only seed.
  const yaml = `# Generated by scripts/cassandra.ts on every start: edits are overwritten.
cluster_name: logs-test
num_tokens: 1
initial_token: ${tokenOf(node, nodes)}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: ${p.address}
rpc_address: ${p.address}
storage_port: ${storagePort}
native_transport_port: ${port}
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${storagePort}"
data_file_directories: [ ${r("data")} ]
commitlog_directory: ${r("commitlog")}
saved_caches_directory: ${r("saved_caches")}
hints_directory: ${r("hints")}
cdc_raw_directory: ${r("cdc_raw")}
${commitlogYaml(sync)}
commitlog_disk_access_mode: legacy
auto_bootstrap: false
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
incremental_backups: false
concurrent_compactors: 1
compaction_throughput: 0MiB/s
`;
  // Without a logback config Cassandra logs DEBUG to the console.
  const logback = `<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>\${cassandra.logdir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>\${cassandra.logdir}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex><maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy"><maxFileSize>20MB</maxFileSize></triggeringPolicy>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/><appender-ref ref="STDOUT"/></root>
</configuration>
`;
  fs.writeFileSync(p.yaml, yaml);
  fs.writeFileSync(p.logback, logback);
}

function javaBin(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, "bin", "java") : "java";
}

// Cassandra 5.0 supports Java 11 and 17 only; fail early with a clear message instead of a stack trace.
function checkJava(java: string): void {
  let out = "";
  try {
    const p = Bun.spawnSync([java, "-version"]);
    out = p.stderr.toString() + p.stdout.toString();
  } catch (e) {
    throw new Error(`cannot run ${java} (install Java 17 or set JAVA_HOME): ${e}`);
  }
  const m = out.match(/version "(\d+)(?:\.(\d+))?/);
  const major = m ? (m[1] === "1" ? Number(m[2]) : Number(m[1])) : NaN;
  if (major !== 11 && major !== 17) throw new Error(`Cassandra 5.0 needs Java 11 or 17, ${java} is: ${out.split("\n")[0]}`);
}

function jvmArgs(p: NodePaths, heap: string, skipSync: boolean): string[] {
  const jamm = fs.readdirSync(paths.lib).find((f) => /^jamm-.*\.jar$/.test(f));
  const exp = (m: string) => ["--add-exports", m];
  const opn = (m: string) => ["--add-opens", m];
  return [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    ...(jamm ? [`-javaagent:${path.join(paths.lib, jamm)}`] : []),
    // conf/jvm-server.options (5.0)
    "-ea",
    "-da:net.openhft...",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-Xss256k",
    "-XX:+AlwaysPreTouch",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+UseNUMA",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
    "-Dchronicle.analytics.disable=true",
    "-XX:+ExitOnOutOfMemoryError", // a test node should die loudly, not limp on (startup check warns otherwise)
    `-XX:HeapDumpPath=${p.logs}`,
    `-XX:ErrorFile=${path.join(p.logs, "hs_err_%p.log")}`,
    // conf/jvm17-server.options
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-Djdk.attach.allowAttachSelf=true",
    ...exp("java.base/jdk.internal.misc=ALL-UNNAMED"),
    ...exp("java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED"),
    ...exp("java.management/com.sun.jmx.remote.security=ALL-UNNAMED"),
    ...exp("java.rmi/sun.rmi.registry=ALL-UNNAMED"),
    ...exp("java.rmi/sun.rmi.server=ALL-UNNAMED"),
    ...exp("java.sql/java.sql=ALL-UNNAMED"),
    ...exp("java.base/java.lang.ref=ALL-UNNAMED"),
    ...exp("jdk.unsupported/sun.misc=ALL-UNNAMED"),
    ...opn("java.base/java.lang.module=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.loader=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.ref=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.reflect=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.math=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.module=ALL-UNNAMED"),
    ...opn("java.base/jdk.internal.util.jar=ALL-UNNAMED"),
    ...opn("jdk.management/com.sun.management.internal=ALL-UNNAMED"),
    ...opn("java.base/sun.nio.ch=ALL-UNNAMED"),
    ...opn("java.base/java.io=ALL-UNNAMED"),
    ...opn("java.base/java.lang.reflect=ALL-UNNAMED"),
    ...opn("java.base/java.lang=ALL-UNNAMED"),
    ...opn("java.base/java.util=ALL-UNNAMED"),
    ...opn("java.base/java.nio=ALL-UNNAMED"),
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    // added by bin/cassandra.in.sh on a JDK
    ...exp("jdk.attach/sun.tools.attach=ALL-UNNAMED"),
    ...exp("jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED"),
    ...opn("jdk.compiler/com.sun.tools.javac=ALL-UNNAMED"),
    // a noexec /tmp would break JNA/netty native unpacking
    `-Djna.tmpdir=${p.tmp}`,
    `-Djava.io.tmpdir=${p.tmp}`,
    `-Dcassandra.config=file://${p.yaml}`,
    `-Dlogback.configurationFile=${p.logback}`,
    `-Dcassandra.logdir=${p.logs}`,
    `-Dcassandra.triggers_dir=${p.tmp}`,
    "-Dcassandra-foreground=yes", // without it stdout/stderr get closed
    // test speed-ups; no -Dcassandra.jmx.local.port, so JMX stays off
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.superuser_setup_delay_ms=0",
    // Throwaway test data only: no fsync, and schema changes not flushed. Never for a node that
    // must keep what it acknowledged: with unsafesystem a schema change lives only in the commit
    // log, and a kill -9 then brings the node back without the tables in memory (their rows in
    // the commit log are skipped as of an unknown table) while system_schema lists them.
    ...(skipSync ? ["-Dcassandra.skip_sync=true", "-Dcassandra.unsafesystem=true"] : []),
    "-cp",
    `${p.conf}:${paths.lib}/*`,
    "org.apache.cassandra.service.CassandraDaemon",
  ];
}

function readFrom(file: string, offset: number): string {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(offset <= buf.length ? offset : 0).toString("utf8");
  } catch {
    return "";
  }
}

// The most useful lines explaining a failed start: the startup exception if any, else the log tail.
function failureReason(p: NodePaths, sysOffset: number): string {
  // Cap line length: the classpath/JVM-argument lines are several KB each.
  const lines = (text: string) => text.split("\n").map((l) => (l.length > 300 ? l.slice(0, 300) + " ..." : l));
  const sys = lines(readFrom(p.systemLog, sysOffset));
  const out = lines(readFrom(p.stdoutLog, 0));
  for (const re of [/Exception .*encountered during startup/, /^ERROR /]) {
    for (const log of [sys, out]) {
      const i = log.findIndex((l) => re.test(l));
      if (i >= 0) return log.slice(i, i + 6).join("\n") + `\n(more in ${p.systemLog})`;
    }
  }
  const tail = (l: string[], n: number) =>
    l
      .filter((x) => x.trim())
      .slice(-n)
      .join("\n");
  return (
    [
      tail(sys, 25) && `--- ${p.systemLog} (tail) ---\n${tail(sys, 25)}`,
      tail(out, 10) && `--- ${p.stdoutLog} (tail) ---\n${tail(out, 10)}`,
    ]
      .filter(Boolean)
      .join("\n") || "(logs are empty)"
  );
}

// --- commands --------------------------------------------------------------------------------
export interface StartOptions {
  /** Nodes of the cluster (1 to MAX_NODES); default: the cluster file's, else 1. */
  nodes?: number;
  /** Start only this node (1-based) of the cluster, e.g. after a kill. */
  node?: number;
  /** The cluster's folder (default <repo>/.cassandra); the jars are shared whatever it is. */
  base?: string;
  port?: number; // native (CQL) port on every node, default env CASSANDRA_PORT or 9042
  storagePort?: number; // default env CASSANDRA_STORAGE_PORT or 7000
  heap?: string; // e.g. "1G", default env CASSANDRA_HEAP, else 1G (one node) or 768M (a cluster)
  skipSync?: boolean; // default env CASSANDRA_SKIP_SYNC=1
  commitlog?: CommitlogSync; // default env CASSANDRA_COMMITLOG or group
  timeoutMs?: number; // default env CASSANDRA_START_TIMEOUT_S or 180 s
  log?: (msg: string) => void; // progress messages, default console.log
}
export interface StartResult {
  /** Whether this call started a node (any of them). */
  started: boolean;
  /** Node 1's pid (or the node asked for). */
  pid?: number;
  logFile: string;
  startupMs?: number;
  /** Pid of every node, by node number. */
  pids: Record<number, number | undefined>;
}

interface NodeStart {
  started: boolean;
  pid?: number;
  logFile: string;
}

async function startNode(
  node: number,
  nodes: number,
  o: { base: string; port: number; storagePort: number; heap: string; skipSync: boolean; commitlog: CommitlogSync },
  deadline: number,
  log: (m: string) => void,
): Promise<NodeStart> {
  const p = nodePaths(node, o.base);
  if (await cassandraAnswers(p.address, o.port)) return { started: false, pid: runningPid(node, o.base), logFile: p.systemLog };
  let pid = runningPid(node, o.base);
  let exited: string | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  let sysOffset = 0;
  if (pid) {
    const cfgPort = /^native_transport_port: (\d+)/m.exec(readFrom(p.yaml, 0))?.[1];
    if (cfgPort && Number(cfgPort) !== o.port)
      throw new Error(
        `Cassandra node ${node} (pid ${pid}) from this harness already runs with CQL port ${cfgPort}; stop it first`,
      );
    log(`Cassandra node ${node} (pid ${pid}) is already starting; waiting for it...`);
  } else {
    if (await portInUse(p.address, o.port))
      throw new Error(`port ${p.address}:${o.port} is in use by something that does not speak CQL`);
    for (const d of [p.conf, p.run, p.logs, p.tmp]) fs.mkdirSync(d, { recursive: true });
    const java = javaBin();
    checkJava(java);
    writeConfig(p, node, nodes, o.port, o.storagePort, o.commitlog);
    sysOffset = fs.existsSync(p.systemLog) ? fs.statSync(p.systemLog).size : 0;
    const out = fs.openSync(p.stdoutLog, "w");
    // detached: own session, so it outlives this script and ignores Ctrl-C in this terminal.
    child = spawn(java, jvmArgs(p, o.heap, o.skipSync), { cwd: p.dir, detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    child.on("error", (e) => {
      exited = `spawn failed: ${e.message}`;
    });
    child.on("exit", (code, sig) => {
      exited = `process exited (${sig ?? `code ${code}`})`;
    });
    pid = child.pid;
    if (!pid) throw new Error(`could not start ${java}`);
    fs.writeFileSync(p.pidFile, `${pid}\n`);
    log(
      `Starting Cassandra node ${node} (pid ${pid}, heap ${o.heap}, CQL ${p.address}:${o.port}, commitlog ${o.commitlog}` +
        `${o.skipSync ? ", skip_sync" : ""}); log: ${p.systemLog}`,
    );
  }
  while (true) {
    if (await cassandraAnswers(p.address, o.port)) break;
    if (!exited && !child && !isOurCassandra(pid, p)) exited = "process exited";
    if (exited) {
      fs.rmSync(p.pidFile, { force: true });
      throw new Error(`Cassandra node ${node} failed to start: ${exited}\n${failureReason(p, sysOffset)}`);
    }
    if (Date.now() > deadline) {
      const reason = failureReason(p, sysOffset);
      if (child) await stopNode(node, o.base, { log: () => {} }); // only stop what this call started
      throw new Error(`Cassandra node ${node} did not answer CQL in time${child ? " (stopped it)" : ""}\n${reason}`);
    }
    await sleep(500);
  }
  child?.unref();
  return { started: !!child, pid, logFile: p.systemLog };
}

/**
 * Whether every node answers CQL and sees every node of the cluster in gossip as NORMAL (what
 * nodetool prints as UN), or why not.
 */
export async function clusterState(nodes: number, port: number, clusterBase = base): Promise<{ up: boolean; detail: string }> {
  if (nodes === 1) {
    const up = await cassandraAnswers("127.0.0.1", port);
    return { up, detail: up ? "1 node up" : "node 1 does not answer" };
  }
  const { default: cassandra } = await import("cassandra-driver");
  const wanted = Array.from({ length: nodes }, (_, i) => nodePaths(i + 1, clusterBase).address);
  for (const address of wanted) {
    const client = new cassandra.Client({
      contactPoints: [address],
      localDataCenter: "datacenter1",
      protocolOptions: { port, maxVersion: 4 },
      policies: {
        loadBalancing: new cassandra.policies.loadBalancing.WhiteListPolicy(
          new cassandra.policies.loadBalancing.RoundRobinPolicy(),
          [`${address}:${port}`],
        ),
      },
      socketOptions: { connectTimeout: 2000, readTimeout: 3000 },
    });
    try {
      await client.connect();
      const rs = await client.execute("SELECT address, status, status_with_port FROM system_views.gossip_info");
      const normal = new Set(
        rs.rows.filter((r) => String(r.status_with_port ?? r.status).startsWith("NORMAL")).map((r) => String(r.address)),
      );
      const missing = wanted.filter((a) => !normal.has(a));
      if (missing.length > 0) return { up: false, detail: `${address} does not see ${missing.join(", ")} as NORMAL yet` };
    } catch (e) {
      return { up: false, detail: `${address}: ${(e as Error).message}` };
    } finally {
      await client.shutdown().catch(() => {});
    }
  }
  return { up: true, detail: `${nodes} nodes up and normal` };
}

/**
 * Starts the local cluster (node 1, the seed, first; then the others together) and waits until
 * every node answers CQL and all see each other as up and normal; or, with `node`, starts that
 * one node of the cluster. Nodes already running are left as they are.
 */
export async function startCassandra(opts: StartOptions = {}): Promise<StartResult> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const clusterBase = opts.base ?? base;
  const known = readCluster(clusterBase);
  const nodes = opts.nodes ?? (opts.node !== undefined ? known?.nodes : undefined) ?? 1;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES)
    throw new Error(`--nodes must be 1 to ${MAX_NODES}, not ${nodes}`);
  if (opts.node !== undefined && (!Number.isInteger(opts.node) || opts.node < 1 || opts.node > nodes))
    throw new Error(`--node must be 1 to ${nodes} (the cluster's nodes), not ${opts.node}`);
  const commitlog = opts.commitlog ?? ((process.env.CASSANDRA_COMMITLOG as CommitlogSync | undefined) || "group");
  if (!["group", "periodic", "batch"].includes(commitlog))
    throw new Error(`commit log sync must be group, periodic or batch, not ${commitlog}`);
  const o = {
    base: clusterBase,
    port: opts.port ?? (opts.node !== undefined ? known?.port : undefined) ?? defaultPort(),
    storagePort:
      opts.storagePort ?? (opts.node !== undefined ? known?.storagePort : undefined) ?? envInt("CASSANDRA_STORAGE_PORT", 7000),
    heap: opts.heap ?? process.env.CASSANDRA_HEAP ?? (nodes > 1 ? "768M" : "1G"),
    skipSync: opts.skipSync ?? process.env.CASSANDRA_SKIP_SYNC === "1",
    commitlog,
  };
  const timeoutMs = opts.timeoutMs ?? envInt("CASSANDRA_START_TIMEOUT_S", 180) * 1000;
  const deadline = Date.now() + timeoutMs;
  const t0 = Date.now();
  const pids: Record<number, number | undefined> = {};
  if (opts.node !== undefined) {
    const r = await startNode(opts.node, nodes, o, deadline, log);
    pids[opts.node] = r.pid;
    return { started: r.started, pid: r.pid, logFile: r.logFile, startupMs: r.started ? Date.now() - t0 : undefined, pids };
  }
  if (!(await cassandraAnswers("127.0.0.1", o.port))) await ensureJars(log);
  const first = await startNode(1, nodes, o, deadline, log);
  // Written once node 1 is up: a start that fails (no java, say) leaves the cluster's file as it
  // was, so that a later start or stop without flags still finds the node that runs.
  fs.mkdirSync(clusterBase, { recursive: true });
  fs.writeFileSync(
    path.join(clusterBase, "cluster.json"),
    JSON.stringify({ nodes, port: o.port, storagePort: o.storagePort }) + "\n",
  );
  pids[1] = first.pid;
  let started = first.started;
  if (nodes > 1) {
    await ensureJars(log);
    // Fixed tokens and auto_bootstrap: false, so the other nodes may join at once.
    const rest = await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => startNode(i + 2, nodes, o, deadline, log)));
    rest.forEach((r, i) => {
      pids[i + 2] = r.pid;
      started ||= r.started;
    });
    let state = await clusterState(nodes, o.port, clusterBase);
    while (!state.up) {
      if (Date.now() > deadline) throw new Error(`the cluster did not come up in time: ${state.detail}`);
      await sleep(1000);
      state = await clusterState(nodes, o.port, clusterBase);
    }
  }
  return { started, pid: first.pid, logFile: first.logFile, startupMs: started ? Date.now() - t0 : undefined, pids };
}

/** Stops one node (SIGTERM, then SIGKILL after 20 s; or SIGKILL at once with `kill`). Resolves true if it ran. */
export async function stopNode(
  node: number,
  clusterBase = base,
  opts: { kill?: boolean; wipe?: boolean; log?: (m: string) => void } = {},
): Promise<boolean> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const p = nodePaths(node, clusterBase);
  const pid = runningPid(node, clusterBase);
  if (pid) {
    const t0 = Date.now();
    process.kill(pid, opts.kill ? "SIGKILL" : "SIGTERM");
    while (isOurCassandra(pid, p) && Date.now() - t0 < 20_000) await sleep(100);
    if (isOurCassandra(pid, p)) {
      log(`pid ${pid} ignored SIGTERM for 20 s; sending SIGKILL`);
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
      const t1 = Date.now();
      while (isOurCassandra(pid, p) && Date.now() - t1 < 10_000) await sleep(200);
      if (isOurCassandra(pid, p)) throw new Error(`pid ${pid} survived SIGKILL`);
    }
    log(`${opts.kill ? "Killed" : "Stopped"} Cassandra node ${node} (pid ${pid}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  fs.rmSync(p.pidFile, { force: true });
  if (opts.wipe) {
    fs.rmSync(p.run, { recursive: true, force: true });
    log(`Wiped ${p.run}`);
  }
  return !!pid;
}

/** The node numbers that have a folder in the cluster folder (node 1 always). */
function nodesIn(clusterBase: string): number[] {
  const out = [1];
  for (let i = 2; i <= MAX_NODES; i++) if (fs.existsSync(nodePaths(i, clusterBase).dir)) out.push(i);
  return out;
}

/**
 * Stops the nodes started by this harness (every node of the cluster, or only `node`): SIGTERM,
 * then SIGKILL after 20 s, or SIGKILL at once with `kill`. Resolves true if one was running.
 */
export async function stopCassandra(
  opts: { wipe?: boolean; node?: number; kill?: boolean; base?: string; log?: (m: string) => void } = {},
): Promise<boolean> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const clusterBase = opts.base ?? base;
  const which = opts.node !== undefined ? [opts.node] : nodesIn(clusterBase);
  const stopped = await Promise.all(which.map((n) => stopNode(n, clusterBase, { ...opts, log })));
  if (!stopped.some(Boolean))
    log(`Cassandra (started by this script) is not running${opts.node ? ` on node ${opts.node}` : ""}.`);
  return stopped.some(Boolean);
}

/** `--name value` from the arguments, as a number when asked. */
function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
  return v;
}
function argInt(args: string[], name: string): number | undefined {
  const v = argValue(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
  return n;
}

async function main(cmd: string | undefined, args: string[]): Promise<number> {
  const node = argInt(args, "--node");
  const known = readCluster();
  const nodes = argInt(args, "--nodes") ?? known?.nodes ?? 1;
  // Without CASSANDRA_PORT, the port the cluster was started with.
  const port = process.env.CASSANDRA_PORT ? defaultPort() : (known?.port ?? defaultPort());
  switch (cmd) {
    case "start": {
      const r = await startCassandra({ nodes: argInt(args, "--nodes"), node });
      const where = node
        ? `node ${node} (${nodePaths(node).address}:${port})`
        : nodes > 1
          ? `${nodes} nodes`
          : `127.0.0.1:${port}`;
      if (!r.started) console.log(`Cassandra already answers CQL at ${where}; nothing to do.`);
      else console.log(`Cassandra ready: ${where} after ${(r.startupMs! / 1000).toFixed(1)} s; log: ${r.logFile}`);
      if (!node && nodes > 1)
        for (const [n, pid] of Object.entries(r.pids))
          console.log(`  node ${n}: ${nodePaths(Number(n)).address}:${port} pid ${pid}`);
      return 0;
    }
    case "stop": {
      if (!(await stopCassandra({ wipe: args.includes("--wipe"), node, kill: args.includes("--kill") }))) {
        if (await cassandraAnswers(node ? nodePaths(node).address : "127.0.0.1", port))
          console.log(`Note: something else answers CQL there; left alone.`);
      }
      return 0;
    }
    case "status": {
      let allUp = true;
      const which = node ? [node] : Array.from({ length: Math.max(nodes, nodesIn(base).length) }, (_, i) => i + 1);
      for (const n of which) {
        const p = nodePaths(n);
        const pid = runningPid(n);
        const answers = await cassandraAnswers(p.address, port);
        allUp &&= answers;
        console.log(
          `node ${n}: process ${pid ? `running (pid ${pid})` : "not running"}; CQL at ${p.address}:${port}: ${answers ? "answers" : "no answer"}`,
        );
      }
      if (!node && nodes > 1 && allUp) {
        const state = await clusterState(nodes, port);
        console.log(`cluster: ${state.detail}`);
        allUp = state.up;
      }
      return allUp ? 0 : 3;
    }
    default:
      console.error(
        "usage: bun run scripts/cassandra.ts start [--nodes N] [--node I] | stop [--node I] [--kill] [--wipe] | status [--node I]",
      );
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv[2], process.argv.slice(3)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
