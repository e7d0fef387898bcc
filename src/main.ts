// Entry point: parse options, open the store, serve, shut down cleanly on SIGTERM/SIGINT. The
// `logs` and `hash-password` subcommands load only their own modules: a client run does not
// carry the server (its router, stores, LogQL, the explorer) in memory.
import { ConfigError, describeConfig, helpText, parseConfig } from "./config.ts";
import { log, setLogLevel } from "./log.ts";
import { VERSION } from "./version.ts";

/** How long a stopping server answers with `Connection: close` before it stops accepting. */
const SHUTDOWN_DRAIN_MS = 1000;

async function main(): Promise<number> {
  if (process.argv[2] === "logs") {
    const { runLogs } = await import("./cli/logs.ts");
    return runLogs(process.argv.slice(3), process.env);
  }
  if (process.argv[2] === "hash-password") {
    const { runHashPassword } = await import("./access/hash-password.ts");
    return runHashPassword(process.argv.slice(3));
  }
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`kube-insight-logserver: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (parsed.help) {
    console.log(helpText("kube-insight-logserver"));
    return 0;
  }
  if (parsed.version) {
    console.log(`version: ${VERSION}`);
    return 0;
  }
  const config = parsed.config;
  const [{ AccessControl }, { createApp }, { createMetrics, storeObserver }, { WriteNotifier }, { serve }, { openStore }] =
    await Promise.all([
      import("./access/access.ts"),
      import("./app.ts"),
      import("./metrics.ts"),
      import("./query/follow.ts"),
      import("./server.ts"),
      import("./store/open.ts"),
    ]);
  setLogLevel(config.logLevel);
  log.info("starting", { version: VERSION, config: describeConfig(config) });

  let access: InstanceType<typeof AccessControl>;
  try {
    access = new AccessControl(config);
  } catch (error) {
    log.error("failed to load the auth file", { error });
    return 1;
  }
  // The auth file is read again when it changes and on SIGHUP (a mistake keeps the previous one).
  const unwatchAuthFile = access.watch();
  process.on("SIGHUP", () => void access.reload());

  const metrics = createMetrics();
  let store;
  try {
    store = await openStore(config, storeObserver(metrics, config.store));
  } catch (error) {
    log.error("failed to open the store", { store: config.store, error });
    return 1;
  }
  const notifier = new WriteNotifier();
  const app = createApp(store, config, { metrics, notifier, access });
  let server: ReturnType<typeof serve>;
  try {
    server = serve(app, {
      hostname: config.bindAddress,
      port: config.port,
      bodyTimeoutSeconds: config.bodyTimeoutSeconds,
      tls:
        config.tlsCertFile === ""
          ? undefined
          : { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile || undefined },
    });
  } catch (error) {
    log.error("failed to start the HTTP server", { bind: `${config.bindAddress}:${config.port}`, error });
    await store.close();
    return 1;
  }
  log.info("listening", { url: server.url.href, store: store.kind, pid: process.pid });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { signal });
      try {
        // Open follows (/tail) end first: they would never finish on their own.
        notifier.end();
        unwatchAuthFile();
        // Answer with `Connection: close` for a moment (no keep-alive connection is reset under a
        // client's next request), then stop accepting; resolves once in-flight requests (writes
        // included) have finished, on every listener (those a certificate rotation replaced too).
        await server.stop(false, SHUTDOWN_DRAIN_MS);
        await store.close();
        log.info("stopped");
        resolve(0);
      } catch (error) {
        log.error("shutdown failed", { error });
        resolve(1);
      }
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
  });
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
