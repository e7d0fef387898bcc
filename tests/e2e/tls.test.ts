// HTTPS on the real server process: certificates made here with openssl (a CA, server and client
// certificates, expired ones), rotation of the files while requests are in flight, a rotation
// caught halfway, mutual TLS, and the start-up errors. Everything talks to 127.0.0.1 only.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tls from "node:tls";
import { startServerProcess, type ServerProcess } from "../../scripts/server-process.ts";
import { fbRecord, unique } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const main = join(root, "src/main.ts");
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "logserver-tls-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ENV = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" };

/** Certificates signed with `openssl ca`, the one OpenSSL 3.0 command that sets any validity dates. */
class Pki {
  readonly dir = tempDir();

  constructor() {
    writeFileSync(
      join(this.dir, "ca.cnf"),
      [
        "[ca]",
        "default_ca = local",
        "[local]",
        "database = index.txt",
        "new_certs_dir = .",
        "rand_serial = yes",
        "default_md = sha256",
        "policy = any",
        "unique_subject = no",
        "copy_extensions = copy",
        "[any]",
        "commonName = supplied",
      ].join("\n"),
    );
    writeFileSync(join(this.dir, "index.txt"), "");
  }

  /** Runs openssl in the directory: `command` split on spaces, then `subject` (spaces allowed). */
  private openssl(command: string, subject?: string): void {
    const args = command.split(" ").concat(subject === undefined ? [] : ["-subj", subject]);
    const r = Bun.spawnSync(["openssl", ...args], { cwd: this.dir, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  pem(name: string): Promise<string> {
    return Bun.file(this.path(name)).text();
  }

  /** A self-signed CA: `name`.crt and `name`.key. */
  ca(name: string, cn: string): void {
    this.openssl(`req -x509 ${KEY} -keyout ${name}.key -out ${name}.crt -days 60`, `/CN=${cn}`);
  }

  /**
   * A certificate for 127.0.0.1 and localhost signed by `ca`, valid from now for `days` days, or
   * between two dates (YYYYMMDDHHMMSSZ).
   */
  issue(name: string, cn: string, ca: string, validity: number | { start: string; end: string } = 30): void {
    const san = "-addext subjectAltName=IP:127.0.0.1,DNS:localhost";
    this.openssl(`req ${KEY} -keyout ${name}.key -out ${name}.csr ${san}`, `/CN=${cn}`);
    const dates = typeof validity === "number" ? `-days ${validity}` : `-startdate ${validity.start} -enddate ${validity.end}`;
    this.openssl(`ca -config ca.cnf -batch -notext -cert ${ca}.crt -keyfile ${ca}.key -in ${name}.csr -out ${name}.crt ${dates}`);
  }
}

/** Small keys that are quick to make. */
const KEY = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

const EXPIRED = { start: "20200101000000Z", end: "20210101000000Z" };

/** The options that serve `name`.crt with `name`.key. */
function tlsArgs(name: string): string[] {
  return ["--tls-cert-file", pki.path(`${name}.crt`), "--tls-key-file", pki.path(`${name}.key`)];
}

function start(args: string[]): Promise<ServerProcess> {
  return startServerProcess(["bun", main, "--bind-address", "127.0.0.1", "--data-dir", tempDir(), ...args], {
    cwd: root,
    env: ENV,
    timeoutMs: 20_000,
  });
}

async function stop(server: ServerProcess): Promise<void> {
  server.proc.kill("SIGTERM");
  expect(await server.proc.exited).toBe(0);
  expect(server.output()).toContain('"msg":"stopped"');
}

/** Runs the server until it exits (it should not listen); its exit code and output. */
async function failedStart(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = Bun.spawn(["bun", main, "--bind-address", "127.0.0.1", "--data-dir", tempDir(), ...args], {
    cwd: root,
    env: ENV,
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 20_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, output: out + err };
}

/** The subject CN of the certificate the server presents now, verified against `ca`. */
function presentedCn(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((done, fail) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: "localhost" }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      done(String(cn));
    });
    socket.once("error", fail);
    socket.setTimeout(10_000, () => socket.destroy(new Error("no TLS handshake within 10 s")));
  });
}

/** Sockets listening on 127.0.0.1:`port` (one per listener: they share it with SO_REUSEPORT). */
function listeningSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === "0A";
    }).length;
}

/** Resolves once `check` holds, trying again every 100 ms; fails after `ms`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    // A check that throws (a connection reset in the instant of a rotation) is tried again.
    if (await (async () => check())().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

type TlsInit = RequestInit & { tls?: Record<string, unknown> };

async function write(url: string, tlsOptions: Record<string, unknown>, namespace: string, lines: string[]): Promise<number> {
  const now = Date.now();
  const res = await fetch(`${url}/write`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(lines.map((log, i) => fbRecord({ namespace, log, time: new Date(now + i).toISOString() }))),
    tls: tlsOptions,
  } as TlsInit);
  await res.arrayBuffer();
  return res.status;
}

async function query(url: string, tlsOptions: Record<string, unknown>, namespace: string): Promise<string[]> {
  const q = new URLSearchParams({
    namespace,
    pod_name: "web-1",
    container_name: "nginx",
    start_time: new Date(Date.now() - 3_600_000).toISOString(),
    end_time: new Date(Date.now() + 3_600_000).toISOString(),
  });
  const res = await fetch(`${url}/query?${q}`, { tls: tlsOptions } as TlsInit);
  expect(res.status).toBe(200);
  return ((await res.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log);
}

/** The error a fetch fails with (its code), or "HTTP <status>" when it is answered. */
async function outcome(url: string, tlsOptions: Record<string, unknown>): Promise<string> {
  try {
    const res = await fetch(url, { tls: tlsOptions } as TlsInit);
    await res.arrayBuffer();
    return `HTTP ${res.status}`;
  } catch (error) {
    return String((error as { code?: string }).code ?? error);
  }
}

/**
 * A Kubernetes secret volume: tls.crt and tls.key are symlinks through `..data`, itself a symlink
 * to a directory of one version; an update writes a new directory and swaps `..data` at once.
 */
class SecretVolume {
  readonly dir = tempDir();
  private version = 0;

  constructor(files: Record<string, string>) {
    this.update(files);
    for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(this.dir, name));
  }

  update(files: Record<string, string>): void {
    const version = `..v${++this.version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, version, name), text);
    symlinkSync(version, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
  }

  path(name: string): string {
    return join(this.dir, name);
  }
}

/** Reads an SSE body until `text` shows up in it; fails after `ms`. */
async function readUntil(
  reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> },
  text: string,
  ms = 10_000,
): Promise<string> {
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + ms;
  while (!seen.includes(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`"${text}" not read within ${ms} ms; read: ${seen}`);
    const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => ({ done: true, value: undefined, timedOut: true }))]);
    if ("timedOut" in r) continue;
    if (r.done) throw new Error(`the stream ended before "${text}"; read: ${seen}`);
    seen += decoder.decode(r.value, { stream: true });
  }
  return seen;
}

if (Bun.which("openssl") === null) {
  throw new Error("the TLS tests make their certificates with openssl: install it (Debian: apt-get install openssl)");
}
const pki = new Pki();
pki.ca("ca", "Test server CA");
pki.ca("client-ca", "Test client CA");
pki.ca("other-ca", "Another CA");
pki.issue("server-1", "server-1", "ca");
pki.issue("server-2", "server-2", "ca");
pki.issue("server-expired", "server-expired", "ca", EXPIRED);
pki.issue("server-soon", "server-soon", "ca", 2);
pki.issue("client", "client-1", "client-ca");
pki.issue("client-expired", "client-expired", "client-ca", EXPIRED);
pki.issue("client-wrong-ca", "client-wrong-ca", "other-ca");
const ca = await pki.pem("ca.crt");
const trusting = { ca };

describe("HTTPS", () => {
  test("serves writes and queries with a CA-signed certificate; plain HTTP to the port fails", async () => {
    const server = await start(["--port", "0", ...tlsArgs("server-1")]);
    try {
      expect(server.url).toStartWith("https://127.0.0.1:");
      expect(server.output()).toContain('"msg":"TLS certificate loaded"');
      expect(server.output()).not.toContain('"level":"warn"');
      const n = unique();
      expect(await write(server.url, trusting, n, ["over TLS"])).toBe(200);
      expect(await query(server.url, trusting, n)).toEqual(["over TLS"]);
      expect(await presentedCn(server.url, ca)).toBe("server-1");
      // Without the CA the client does not trust the certificate; plain HTTP gets no answer.
      expect(await outcome(`${server.url}/write`, {})).not.toStartWith("HTTP");
      expect(await outcome(`${server.url.replace("https:", "http:")}/write`, {})).not.toStartWith("HTTP");
    } finally {
      await stop(server);
    }
  }, 30_000);

  test("rotation: a new certificate is served while requests in flight finish and no acknowledged line is lost", async () => {
    const volume = new SecretVolume({
      "tls.crt": await pki.pem("server-1.crt"),
      "tls.key": await pki.pem("server-1.key"),
    });
    const server = await start([
      "--port",
      "0",
      "--tls-cert-file",
      volume.path("tls.crt"),
      "--tls-key-file",
      volume.path("tls.key"),
    ]);
    try {
      expect(await presentedCn(server.url, ca)).toBe("server-1");
      const n = unique();
      const followed = unique();

      // A follow, open on the first listener for the whole test.
      const tail = await fetch(`${server.url}/tail?namespace=${followed}`, { tls: trusting } as TlsInit);
      expect(tail.status).toBe(200);
      const follow = tail.body!.getReader();

      // A write whose body arrives in two parts: the second only after the rotation.
      const body = new TextEncoder().encode(
        JSON.stringify([fbRecord({ namespace: followed, log: "slow body", time: new Date().toISOString() })]),
      );
      let firstPartSent!: () => void;
      const firstSent = new Promise<void>((r) => (firstPartSent = r));
      let releaseRest!: () => void;
      const rest = new Promise<void>((r) => (releaseRest = r));
      let pulls = 0;
      const slow = fetch(`${server.url}/write`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (pulls++ === 0) {
              controller.enqueue(body.subarray(0, 40));
              return;
            }
            firstPartSent();
            await rest;
            controller.enqueue(body.subarray(40));
            controller.close();
          },
        }),
        duplex: "half",
        tls: trusting,
      } as TlsInit);
      await firstSent;

      // Writers that keep going through the rotation, each line acknowledged or not.
      const acknowledged: string[] = [];
      const failures: string[] = [];
      let writes = 0;
      let writing = true;
      const writers = Array.from({ length: 2 }, async (_, w) => {
        for (let i = 0; writing; i++) {
          const lines = Array.from({ length: 5 }, (_, j) => `w${w}-${i}-${j}`);
          try {
            const status = await write(server.url, trusting, n, lines);
            if (status === 200) acknowledged.push(...lines);
            else failures.push(`HTTP ${status}`);
          } catch (error) {
            failures.push(String(error));
          }
          writes++;
        }
      });

      const port = Number(new URL(server.url).port);
      expect(listeningSockets(port)).toBe(1);
      volume.update({ "tls.crt": await pki.pem("server-2.crt"), "tls.key": await pki.pem("server-2.key") });
      await eventually("the new certificate is presented", async () => (await presentedCn(server.url, ca)) === "server-2");
      expect(server.output()).toContain('"msg":"TLS certificate reloaded"');
      // Writes go on, on the new listener; the replaced one closes its listening socket.
      const after = writes;
      await eventually("writes go on after the rotation", () => writes >= after + 30);
      await eventually("the replaced listener stops listening", () => listeningSockets(port) === 1);
      writing = false;
      await Promise.all(writers);

      // The body started before the rotation is finished and stored.
      releaseRest();
      const slowRes = await slow;
      expect(slowRes.status).toBe(200);
      // The follow opened before the rotation still sees new lines.
      expect(await write(server.url, trusting, followed, ["after the rotation"])).toBe(200);
      await readUntil(follow, "after the rotation");

      expect(failures).toEqual([]);
      const stored = new Set(await query(server.url, trusting, n));
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(acknowledged.filter((l) => !stored.has(l))).toEqual([]);
      expect(await query(server.url, trusting, followed)).toEqual(["slow body", "after the rotation"]);
    } finally {
      // SIGTERM ends the follow and stops both listeners: the replaced one still holds it.
      await stop(server);
    }
  }, 60_000);

  test("a rotation caught halfway (the new certificate beside the old key) is not taken", async () => {
    const dir = tempDir();
    const cert = join(dir, "tls.crt");
    const key = join(dir, "tls.key");
    // Files replaced by rename, one at a time, as a writer that is not Kubernetes does.
    const put = async (path: string, from: string) => {
      writeFileSync(`${path}.tmp`, await pki.pem(from));
      renameSync(`${path}.tmp`, path);
    };
    await put(cert, "server-1.crt");
    await put(key, "server-1.key");
    const server = await start(["--port", "0", "--tls-cert-file", cert, "--tls-key-file", key]);
    try {
      await put(cert, "server-2.crt");
      await eventually("the server refuses the half pair", () => server.output().includes("do not load"));
      expect(server.output()).toContain(`does not hold the key of the certificate in ${cert}`);
      expect(await presentedCn(server.url, ca)).toBe("server-1");
      const n = unique();
      expect(await write(server.url, trusting, n, ["still served"])).toBe(200);
      // The key arrives: the pair loads at the next look.
      await put(key, "server-2.key");
      await eventually("the new certificate is presented", async () => (await presentedCn(server.url, ca)) === "server-2");
      expect(await query(server.url, trusting, n)).toEqual(["still served"]);
    } finally {
      await stop(server);
    }
  }, 60_000);

  test("mutual TLS: only a client certificate from the client CA, still valid, gets in", async () => {
    const server = await start(["--port", "0", ...tlsArgs("server-1"), "--tls-client-ca-file", pki.path("client-ca.crt")]);
    try {
      const as = async (name: string) => ({ ca, cert: await pki.pem(`${name}.crt`), key: await pki.pem(`${name}.key`) });
      const health = `${server.url}/write`;
      // Refused in the handshake: no HTTP answer at all.
      expect(await outcome(health, trusting)).not.toStartWith("HTTP");
      expect(await outcome(health, await as("client-wrong-ca"))).not.toStartWith("HTTP");
      expect(await outcome(health, await as("client-expired"))).not.toStartWith("HTTP");
      // A certificate of the server's own CA is not a client certificate here.
      expect(await outcome(health, await as("server-2"))).not.toStartWith("HTTP");
      const client = await as("client");
      expect(await outcome(health, client)).toBe("HTTP 200");
      const n = unique();
      expect(await write(server.url, client, n, ["from a client with a certificate"])).toBe(200);
      expect(await query(server.url, client, n)).toEqual(["from a client with a certificate"]);
    } finally {
      await stop(server);
    }
  }, 30_000);

  test("an expired server certificate is served, with a warning, and refused by a verifying client", async () => {
    const server = await start(["--port", "0", ...tlsArgs("server-expired")]);
    try {
      expect(server.output()).toContain('"msg":"the TLS certificate has expired"');
      expect(server.output()).toContain('"notAfter":"2021-01-01T00:00:00.000Z"');
      expect(await outcome(`${server.url}/write`, trusting)).toBe("CERT_HAS_EXPIRED");
      expect(await outcome(`${server.url}/write`, { rejectUnauthorized: false })).toBe("HTTP 200");
    } finally {
      await stop(server);
    }
    // Two days left: served, trusted, and said.
    const soon = await start(["--port", "0", ...tlsArgs("server-soon")]);
    try {
      expect(soon.output()).toContain('"msg":"the TLS certificate expires soon"');
      expect(await outcome(`${soon.url}/write`, trusting)).toBe("HTTP 200");
    } finally {
      await stop(soon);
    }
  }, 30_000);

  test("an unusable TLS file stops the start with an error naming it", async () => {
    const missing = join(tempDir(), "nope.crt");
    const cases: [string[], string][] = [
      [
        ["--tls-cert-file", missing, "--tls-key-file", pki.path("server-1.key")],
        `cannot read the TLS certificate file ${missing}`,
      ],
      [
        ["--tls-cert-file", pki.path("server-1.crt"), "--tls-key-file", pki.path("server-2.key")],
        `the TLS key file ${pki.path("server-2.key")} does not hold the key of the certificate in ${pki.path("server-1.crt")}`,
      ],
      [
        ["--tls-cert-file", pki.path("server-1.key"), "--tls-key-file", pki.path("server-1.key")],
        `the TLS certificate file ${pki.path("server-1.key")} holds no PEM certificate`,
      ],
      [[...tlsArgs("server-1"), "--tls-client-ca-file", missing], `cannot read the TLS client CA file ${missing}`],
      [
        [...tlsArgs("server-1"), "--tls-client-ca-file", pki.path("client-ca.key")],
        `the TLS client CA file ${pki.path("client-ca.key")} holds no PEM certificate`,
      ],
    ];
    for (const [args, message] of cases) {
      const { code, output } = await failedStart(["--port", "0", ...args]);
      expect(code).toBe(1);
      expect(output).toContain('"msg":"failed to start the HTTP server"');
      expect(output).toContain(message);
    }
  }, 60_000);

  test("a port another process listens on fails the start, even when that process set SO_REUSEPORT", async () => {
    for (const reusePort of [false, true]) {
      const holder = Bun.serve({ hostname: "127.0.0.1", port: 0, reusePort, fetch: () => new Response("holder") });
      try {
        const { code, output } = await failedStart(["--port", String(holder.port), ...tlsArgs("server-1")]);
        expect(code).toBe(1);
        expect(output).toContain('"msg":"failed to start the HTTP server"');
        expect(output).toContain(`in use`);
        expect(await (await fetch(`http://127.0.0.1:${holder.port}/`)).text()).toBe("holder");
      } finally {
        await holder.stop(true);
      }
    }
  }, 60_000);
});
