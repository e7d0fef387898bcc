// Runs a real single-node Apache Cassandra 5.0 from Maven Central jars (no Docker needed).
//   bun run scripts/cassandra.ts start | stop [--wipe] | status
// Everything lives in <repo>/.cassandra/ (git-ignored): lib/ (jars), conf/, run/ (data), logs/, tmp/.
// Env: JAVA_HOME, CASSANDRA_HEAP (default 1G), CASSANDRA_PORT (9042), CASSANDRA_STORAGE_PORT (7000),
//      CASSANDRA_SKIP_SYNC=1 (no fsync: throwaway test data only), CASSANDRA_START_TIMEOUT_S (180).
// See /work/shared/notes/cassandra-from-maven.md for where the flags and yaml come from.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const base = path.join(root, ".cassandra");
export const paths = {
  root,
  base,
  pom: path.join(root, "scripts", "cassandra", "pom.xml"),
  lib: path.join(base, "lib"),
  libMarker: path.join(base, "lib", ".complete"),
  conf: path.join(base, "conf"),
  yaml: path.join(base, "conf", "cassandra.yaml"),
  logback: path.join(base, "conf", "logback.xml"),
  run: path.join(base, "run"),
  logs: path.join(base, "logs"),
  tmp: path.join(base, "tmp"),
  pidFile: path.join(base, "cassandra.pid"),
  stdoutLog: path.join(base, "logs", "stdout.log"),
  systemLog: path.join(base, "logs", "system.log"),
};

export interface StartOptions {
  port?: number; // native (CQL) port, default env CASSANDRA_PORT or 9042
  storagePort?: number; // default env CASSANDRA_STORAGE_PORT or 7000
  heap?: string; // e.g. "1G", default env CASSANDRA_HEAP or 1G
  skipSync?: boolean; // default env CASSANDRA_SKIP_SYNC=1
  timeoutMs?: number; // default env CASSANDRA_START_TIMEOUT_S or 180 s
  log?: (msg: string) => void; // progress messages, default console.log
}
export interface StartResult {
  started: boolean;
  pid?: number;
  logFile: string;
  startupMs?: number;
}

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
function isOurCassandra(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))) return false;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes("CassandraDaemon") && cmd.includes(paths.yaml);
  } catch {
    return !fs.existsSync("/proc/self"); // no /proc (macOS): trust kill(0)
  }
}

/** Pid of the node this harness started, from the pid file or (if that was lost) /proc. */
export function runningPid(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(paths.pidFile, "utf8").trim());
    if (pid > 0 && isOurCassandra(pid)) return pid;
  } catch {}
  try {
    for (const e of fs.readdirSync("/proc")) if (/^\d+$/.test(e) && isOurCassandra(Number(e))) return Number(e);
  } catch {}
  return undefined;
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

function writeConfig(port: number, storagePort: number): void {
  const r = (d: string) => path.join(paths.run, d);
  // 127.0.0.1 everywhere: the seed must equal listen_address:storage_port or gossip waits 30-60 s.
  const yaml = `# Generated by scripts/cassandra.ts on every start: edits are overwritten.
cluster_name: logs-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
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
commitlog_sync: periodic
commitlog_sync_period: 10000ms
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
  fs.writeFileSync(paths.yaml, yaml);
  fs.writeFileSync(paths.logback, logback);
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

function jvmArgs(heap: string, skipSync: boolean): string[] {
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
    `-XX:HeapDumpPath=${paths.logs}`,
    `-XX:ErrorFile=${path.join(paths.logs, "hs_err_%p.log")}`,
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
    `-Djna.tmpdir=${paths.tmp}`,
    `-Djava.io.tmpdir=${paths.tmp}`,
    `-Dcassandra.config=file://${paths.yaml}`,
    `-Dlogback.configurationFile=${paths.logback}`,
    `-Dcassandra.logdir=${paths.logs}`,
    `-Dcassandra.triggers_dir=${paths.tmp}`,
    "-Dcassandra-foreground=yes", // without it stdout/stderr get closed
    // test speed-ups; no -Dcassandra.jmx.local.port, so JMX stays off
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.unsafesystem=true",
    ...(skipSync ? ["-Dcassandra.skip_sync=true"] : []),
    "-cp",
    `${paths.conf}:${paths.lib}/*`,
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
function failureReason(sysOffset: number): string {
  // Cap line length: the classpath/JVM-argument lines are several KB each.
  const lines = (text: string) => text.split("\n").map((l) => (l.length > 300 ? l.slice(0, 300) + " ..." : l));
  const sys = lines(readFrom(paths.systemLog, sysOffset));
  const out = lines(readFrom(paths.stdoutLog, 0));
  for (const re of [/Exception .*encountered during startup/, /^ERROR /]) {
    for (const log of [sys, out]) {
      const i = log.findIndex((l) => re.test(l));
      if (i >= 0) return log.slice(i, i + 6).join("\n") + `\n(more in ${paths.systemLog})`;
    }
  }
  const tail = (l: string[], n: number) =>
    l
      .filter((x) => x.trim())
      .slice(-n)
      .join("\n");
  return (
    [
      tail(sys, 25) && `--- ${paths.systemLog} (tail) ---\n${tail(sys, 25)}`,
      tail(out, 10) && `--- ${paths.stdoutLog} (tail) ---\n${tail(out, 10)}`,
    ]
      .filter(Boolean)
      .join("\n") || "(logs are empty)"
  );
}

// --- commands --------------------------------------------------------------------------------
export async function startCassandra(opts: StartOptions = {}): Promise<StartResult> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const port = opts.port ?? defaultPort();
  const storagePort = opts.storagePort ?? envInt("CASSANDRA_STORAGE_PORT", 7000);
  const heap = opts.heap ?? process.env.CASSANDRA_HEAP ?? "1G";
  const skipSync = opts.skipSync ?? process.env.CASSANDRA_SKIP_SYNC === "1";
  const timeoutMs = opts.timeoutMs ?? envInt("CASSANDRA_START_TIMEOUT_S", 180) * 1000;
  const logFile = paths.systemLog;

  if (await cassandraAnswers("127.0.0.1", port)) {
    return { started: false, pid: runningPid(), logFile };
  }
  let t0 = Date.now();
  let pid = runningPid();
  let exited: string | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  let sysOffset = 0;
  if (pid) {
    const cfgPort = /^native_transport_port: (\d+)/m.exec(readFrom(paths.yaml, 0))?.[1];
    if (cfgPort && Number(cfgPort) !== port)
      throw new Error(`Cassandra (pid ${pid}) from this harness already runs with CQL port ${cfgPort}; stop it first`);
    log(`Cassandra (pid ${pid}) is already starting; waiting for it...`);
  } else {
    if (await portInUse("127.0.0.1", port)) throw new Error(`port ${port} is in use by something that does not speak CQL`);
    for (const d of [paths.conf, paths.run, paths.logs, paths.tmp]) fs.mkdirSync(d, { recursive: true });
    await ensureJars(log);
    const java = javaBin();
    checkJava(java);
    writeConfig(port, storagePort);
    sysOffset = fs.existsSync(paths.systemLog) ? fs.statSync(paths.systemLog).size : 0;
    const out = fs.openSync(paths.stdoutLog, "w");
    t0 = Date.now(); // startupMs measures the JVM, not jar resolution
    // detached: own session, so it outlives this script and ignores Ctrl-C in this terminal.
    child = spawn(java, jvmArgs(heap, skipSync), { cwd: paths.base, detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    child.on("error", (e) => {
      exited = `spawn failed: ${e.message}`;
    });
    child.on("exit", (code, sig) => {
      exited = `process exited (${sig ?? `code ${code}`})`;
    });
    pid = child.pid;
    if (!pid) throw new Error(`could not start ${java}`);
    fs.writeFileSync(paths.pidFile, `${pid}\n`);
    log(`Starting Cassandra (pid ${pid}, heap ${heap}, CQL 127.0.0.1:${port}${skipSync ? ", skip_sync" : ""}); log: ${logFile}`);
  }

  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await cassandraAnswers("127.0.0.1", port)) break;
    if (!exited && !child && !isOurCassandra(pid)) exited = "process exited";
    if (exited) {
      fs.rmSync(paths.pidFile, { force: true });
      throw new Error(`Cassandra failed to start: ${exited}\n${failureReason(sysOffset)}`);
    }
    if (Date.now() > deadline) {
      const reason = failureReason(sysOffset);
      if (child) await stopCassandra({ log: () => {} }); // only stop what this call started
      throw new Error(`Cassandra did not answer CQL within ${timeoutMs / 1000} s${child ? " (stopped it)" : ""}\n${reason}`);
    }
    await sleep(500);
  }
  child?.unref();
  const startupMs = Date.now() - t0;
  return { started: !!child, pid, logFile, startupMs };
}

/** Stops the node started by this harness (SIGTERM, then SIGKILL after 20 s). Resolves true if one was running. */
export async function stopCassandra(opts: { wipe?: boolean; log?: (m: string) => void } = {}): Promise<boolean> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const pid = runningPid();
  if (!pid) log("Cassandra (started by this script) is not running.");
  if (pid) {
    const t0 = Date.now();
    process.kill(pid, "SIGTERM");
    while (isOurCassandra(pid) && Date.now() - t0 < 20_000) await sleep(200);
    if (isOurCassandra(pid)) {
      log(`pid ${pid} ignored SIGTERM for 20 s; sending SIGKILL`);
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
      const t1 = Date.now();
      while (isOurCassandra(pid) && Date.now() - t1 < 10_000) await sleep(200);
      if (isOurCassandra(pid)) throw new Error(`pid ${pid} survived SIGKILL`);
    }
    log(`Stopped Cassandra (pid ${pid}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  fs.rmSync(paths.pidFile, { force: true });
  if (opts.wipe) {
    fs.rmSync(paths.run, { recursive: true, force: true });
    log(`Wiped ${paths.run}`);
  }
  return !!pid;
}

async function main(cmd: string | undefined, args: string[]): Promise<number> {
  let port = defaultPort();
  switch (cmd) {
    case "start": {
      const r = await startCassandra();
      if (!r.started && !r.startupMs) {
        console.log(
          `Cassandra already answers CQL at 127.0.0.1:${port}${r.pid ? ` (pid ${r.pid})` : " (not started by this script)"}; nothing to do.`,
        );
      } else {
        console.log(
          `Cassandra ready at 127.0.0.1:${port} (pid ${r.pid}) after ${(r.startupMs! / 1000).toFixed(1)} s; log: ${r.logFile}`,
        );
      }
      return 0;
    }
    case "stop": {
      if (!(await stopCassandra({ wipe: args.includes("--wipe") }))) {
        if (await cassandraAnswers("127.0.0.1", port))
          console.log(`Note: something else answers CQL at 127.0.0.1:${port}; left alone.`);
      }
      return 0;
    }
    case "status": {
      const pid = runningPid();
      // Without CASSANDRA_PORT, probe the port the running node was configured with.
      const cfgPort = Number(/^native_transport_port: (\d+)/m.exec(readFrom(paths.yaml, 0))?.[1]);
      if (pid && !process.env.CASSANDRA_PORT && cfgPort) port = cfgPort;
      const answers = await cassandraAnswers("127.0.0.1", port);
      console.log(
        `process: ${pid ? `running (pid ${pid})` : "not running"}; CQL at 127.0.0.1:${port}: ${answers ? "answers" : "no answer"}`,
      );
      return answers ? 0 : 3;
    }
    default:
      console.error("usage: bun run scripts/cassandra.ts start | stop [--wipe] | status");
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
