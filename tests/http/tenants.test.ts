// Tenants kept apart, on each store, over real HTTP: every route tried with every wrong
// combination of credentials, roles, X-Scope-OrgID and cursors. Two tenants hold a container of
// the very same namespace, pod and container names; each line's text names its tenant, so a leak
// is a body that holds the other tenant's marker. Also: header-only tenancy, the default tenant
// untouched, per-tenant limits and metrics.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";

const dir = mkdtempSync(join(tmpdir(), "logserver-tenants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Cheap argon2id hashes: the cost is stored in the hash, so verifying them is cheap too. */
const hash = (secret: string) => Bun.password.hash(secret, { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 });

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

const USERS = {
  aWriter: { auth: basic("a-writer", "pw-a-writer") },
  aReader: { auth: "Bearer token-a-reader" },
  bWriter: { auth: basic("b-writer", "pw-b-writer") },
  bReader: { auth: basic("b-reader", "pw-b-reader") },
  both: { auth: basic("both", "pw-both") },
  ops: { auth: basic("ops", "pw-ops") },
  limited: { auth: basic("limited", "pw-limited") },
};

async function authFile(): Promise<string> {
  const path = join(dir, `auth-${unique()}.yaml`);
  const yaml = `
users:
  - name: a-writer
    password_hash: "${await hash("pw-a-writer")}"
    tenant: team-a
    roles: [write]
  - name: a-reader
    token_hash: "${await hash("token-a-reader")}"
    tenant: team-a
    roles: [read]
  - name: b-writer
    password_hash: "${await hash("pw-b-writer")}"
    tenant: team-b
    roles: [write]
  - name: b-reader
    password_hash: "${await hash("pw-b-reader")}"
    tenant: team-b
    roles: [read]
  - name: both
    password_hash: "${await hash("pw-both")}"
    tenants: [team-a, team-b]
    roles: [read]
  - name: ops
    password_hash: "${await hash("pw-ops")}"
    roles: [metrics, admin]
  - name: limited
    password_hash: "${await hash("pw-limited")}"
    tenant: team-limited
    roles: [write, read]
tenants:
  team-limited:
    ingest_lines_per_second: 10
    max_query_range: 1d
`;
  writeFileSync(path, yaml);
  return path;
}

/**
 * Loki's read routes, GET and POST, with parameters that find a selector's lines on 2026-05-03.
 * (The WebSocket tail has its own test.)
 */
function lokiReads(selector: string): [string, string][] {
  const range = { start: "2026-05-03T00:00:00Z", end: "2026-05-04T00:00:00Z" };
  const paths: [string, string][] = [
    ["/loki/api/v1/query_range", `?${new URLSearchParams({ query: selector, ...range })}`],
    ["/loki/api/v1/query", `?${new URLSearchParams({ query: `count_over_time(${selector}[1d])`, time: range.end })}`],
    ["/loki/api/v1/labels", `?${new URLSearchParams({ ...range, query: selector })}`],
    ["/loki/api/v1/label/:name/values", `?${new URLSearchParams({ ...range, query: selector })}`],
    ["/loki/api/v1/series", `?${new URLSearchParams({ ...range, "match[]": selector })}`],
  ];
  const gets: [string, string][] = [
    ["/loki/api/v1/index/stats", `?${new URLSearchParams({ ...range, query: selector })}`],
    ["/loki/api/v1/index/volume", `?${new URLSearchParams({ ...range, query: selector })}`],
    ["/loki/api/v1/index/volume_range", `?${new URLSearchParams({ ...range, query: selector, step: "3600" })}`],
  ];
  const concrete = (route: string) => route.replace(":name", "pod");
  return [
    ...paths.flatMap(([route, search]): [string, string][] => [
      [`GET ${route}`, `${concrete(route)}${search}`],
      [`POST ${route}`, `${concrete(route)}${search}`],
    ]),
    ...gets.map(([route, search]): [string, string] => [`GET ${route}`, `${concrete(route)}${search}`]),
  ];
}

const DAY = { start_time: "2026-05-03T00:00:00Z", end_time: "2026-05-04T00:00:00Z" };
const AT = "2026-05-03T12:00:00Z";
const AT_NS = "1777809600000000000"; // AT in epoch nanoseconds (Loki push)

for (const s of storesUnderTest("tenants")) {
  describe(`tenants on the ${s.name} store`, () => {
    const served = servedStore(s);
    // One namespace name, written by both tenants (and the default one): the same stream names.
    const n = unique("shared");
    const marker = { a: `secret-of-team-a-${n}`, b: `secret-of-team-b-${n}`, none: `default-tenant-${n}` };
    let url = "";
    let headerUrl = "";

    const call = (base: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
      fetch(`${base}${path}`, { method: init.method ?? "GET", headers: init.headers, body: init.body });
    const body = (log: string, over: Partial<Parameters<typeof fbRecord>[0]> = {}) =>
      JSON.stringify([fbRecord({ namespace: n, pod: "web-1", container: "nginx", log, time: AT, ...over })]);

    /** Every read route, with parameters that find the shared container's lines. */
    const READS: [string, string][] = [
      [
        "GET /query (one container)",
        `/query?${new URLSearchParams({ namespace: n, pod_name: "web-1", container_name: "nginx", ...DAY })}`,
      ],
      ["GET /query (selector)", `/query?${new URLSearchParams({ selector: `namespace=${n}`, ...DAY })}`],
      ["GET /namespaces", `/namespaces?${new URLSearchParams(DAY)}`],
      ["GET /namespaces/:namespace/pods", `/namespaces/${n}/pods?${new URLSearchParams(DAY)}`],
      ["GET /labels", `/labels?${new URLSearchParams({ ...DAY, selector: `namespace=${n}` })}`],
      ["GET /labels/:name/values", `/labels/namespace/values?${new URLSearchParams(DAY)}`],
      ["GET /tail", `/tail?${new URLSearchParams({ namespace: n, since: "87600h" })}`],
      ["GET /volume", `/volume?${new URLSearchParams({ namespace: n, ...DAY })}`],
      ...lokiReads(`{namespace="${n}"}`),
    ];
    /** Every write route, with a body for it that writes `log` into the shared container. */
    const WRITES: [string, (log: string) => string][] = [
      ["/write", (log) => body(log)],
      ["/", (log) => body(log)],
      [
        "/loki/api/v1/push",
        (log) =>
          JSON.stringify({ streams: [{ stream: { namespace: n, pod: "web-1", container: "nginx" }, values: [[AT_NS, log]] }] }),
      ],
    ];

    /**
     * The body of a read; for /tail, what the stream sent before its first heartbeat or 2 s. A
     * POST sends the query string as a form, as Grafana may.
     */
    async function read(
      base: string,
      path: string,
      headers: Record<string, string>,
      method = "GET",
    ): Promise<{ status: number; text: string }> {
      const controller = new AbortController();
      const [route, search = ""] = path.split("?");
      const res =
        method === "POST"
          ? await fetch(`${base}${route}`, {
              method,
              headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
              body: search,
            })
          : await fetch(`${base}${path}`, { headers, signal: controller.signal });
      if (!path.startsWith("/tail") || res.status !== 200) return { status: res.status, text: await res.text() };
      const reader = res.body!.getReader();
      let text = "";
      const deadline = Date.now() + 2_000;
      while (Date.now() < deadline && !text.includes("event: line")) {
        const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => undefined)]);
        if (next === undefined || next.done) break;
        text += new TextDecoder().decode(next.value);
      }
      // Whatever else arrives soon after the first lines belongs to the answer too.
      const more = await Promise.race([reader.read(), Bun.sleep(200).then(() => undefined)]);
      if (more && !more.done) text += new TextDecoder().decode(more.value);
      controller.abort();
      return { status: 200, text };
    }

    test("set-up: each tenant writes its own line into a container of the same names", async () => {
      url = served.server({ authFile: await authFile(), tenancy: "header", enableProfiling: true });
      headerUrl = served.server({ tenancy: "header" });
      for (const [who, log] of [
        [USERS.aWriter, marker.a],
        [USERS.bWriter, marker.b],
      ] as const) {
        const res = await call(url, "/write", { method: "POST", headers: { authorization: who.auth }, body: body(log) });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ accepted: 1, rejected: 0 });
      }
      // The default tenant, through the server without tenancy.
      expect((await call(served.url, "/write", { method: "POST", body: body(marker.none) })).status).toBe(200);
    });

    test("every read route: each reader sees its own tenant's line and never another's", async () => {
      for (const [name, path] of READS) {
        for (const [who, mine, others] of [
          [{ authorization: USERS.aReader.auth }, marker.a, [marker.b, marker.none]],
          [{ authorization: USERS.bReader.auth }, marker.b, [marker.a, marker.none]],
          [{ authorization: USERS.both.auth, "x-scope-orgid": "team-a" }, marker.a, [marker.b, marker.none]],
          [{ authorization: USERS.both.auth, "x-scope-orgid": "team-b" }, marker.b, [marker.a, marker.none]],
        ] as const) {
          const { status, text } = await read(url, path, who, name.split(" ")[0]);
          expect({ name, status }).toEqual({ name, status: 200 });
          // Lines show in /query, /tail and Loki's log queries; discovery shows names, which both
          // tenants share here.
          if (path.startsWith("/query") || path.startsWith("/tail") || path.startsWith("/loki/api/v1/query_range")) {
            expect({ name, shown: text.includes(mine) }).toEqual({ name, shown: true });
          }
          for (const other of others) expect({ name, leaked: text.includes(other) }).toEqual({ name, leaked: false });
          // Counts hold no text: each tenant wrote one line there, and only it is counted.
          if (path.startsWith("/volume")) expect({ name, lines: JSON.parse(text).total.lines }).toEqual({ name, lines: 1 });
        }
      }
    });

    test("every read route refuses: no credentials, wrong ones, write-only or metrics-only users, another tenant's header, malformed ids", async () => {
      const cases: [string, Record<string, string>, number][] = [
        ["no credentials", {}, 401],
        ["wrong password", { authorization: basic("b-reader", "wrong") }, 401],
        ["unknown user", { authorization: basic("nobody", "pw-b-reader") }, 401],
        ["wrong token", { authorization: "Bearer token-b-reader" }, 401],
        ["another scheme", { authorization: "Digest x" }, 401],
        ["only the tenant header", { "x-scope-orgid": "team-a" }, 401],
        ["a write-only user", { authorization: USERS.aWriter.auth }, 403],
        ["a metrics/admin user", { authorization: USERS.ops.auth }, 403],
        ["a reader naming another tenant", { authorization: USERS.aReader.auth, "x-scope-orgid": "team-b" }, 403],
        ["a reader naming a made-up tenant", { authorization: USERS.bReader.auth, "x-scope-orgid": "team-c" }, 403],
        ["a user of two tenants naming none", { authorization: USERS.both.auth }, 400],
        ["two tenants at once", { authorization: USERS.both.auth, "x-scope-orgid": "team-a|team-b" }, 400],
        ["a path in the tenant id", { authorization: USERS.aReader.auth, "x-scope-orgid": "../team-b" }, 400],
      ];
      for (const [name, path] of READS) {
        for (const [why, headers, expected] of cases) {
          const { status, text } = await read(url, path, headers, name.split(" ")[0]);
          expect({ name, why, status }).toEqual({ name, why, status: expected });
          const error = JSON.parse(text) as { message: string; detail: string };
          expect(error.detail.length).toBeGreaterThan(0);
          expect(text).not.toContain(marker.a);
          expect(text).not.toContain(marker.b);
        }
      }
    });

    test("Loki's tail (WebSocket): each reader follows its own tenant's lines; without credentials or with another tenant's header, no upgrade", async () => {
      const tailUrl = `${url.replace("http", "ws")}/loki/api/v1/tail?${new URLSearchParams({
        query: `{namespace="${n}"}`,
        start: "1777766400000000000", // 2026-05-03T00:00:00Z
      })}`;
      const follow = (headers: Record<string, string>) =>
        new Promise<{ opened: boolean; text: string }>((resolve) => {
          const ws = new WebSocket(tailUrl, { headers } as unknown as string[]);
          let text = "";
          let opened = false;
          const done = () => {
            ws.close();
            resolve({ opened, text });
          };
          const timer = setTimeout(done, 2000);
          ws.onopen = () => (opened = true);
          ws.onmessage = (e) => {
            text += String(e.data);
            clearTimeout(timer);
            setTimeout(done, 200);
          };
          ws.onerror = () => {
            clearTimeout(timer);
            resolve({ opened, text });
          };
        });
      const a = await follow({ authorization: USERS.aReader.auth });
      expect(a.opened).toBe(true);
      expect(a.text).toContain(marker.a);
      expect(a.text).not.toContain(marker.b);
      expect(a.text).not.toContain(marker.none);
      const b = await follow({ authorization: USERS.both.auth, "x-scope-orgid": "team-b" });
      expect(b.text).toContain(marker.b);
      expect(b.text).not.toContain(marker.a);
      const refusals: Record<string, string>[] = [
        {},
        { "x-scope-orgid": "team-a" },
        { authorization: USERS.aWriter.auth },
        { authorization: USERS.aReader.auth, "x-scope-orgid": "team-b" },
      ];
      for (const headers of refusals) {
        const refused = await follow(headers);
        expect({ headers, opened: refused.opened, text: refused.text }).toEqual({ headers, opened: false, text: "" });
      }
    });

    test("writes: refused for readers, for another tenant's header, without credentials; nothing refused is stored", async () => {
      const intruder = `intruder-${n}`;
      const cases: [string, Record<string, string>, number][] = [
        ["no credentials", {}, 401],
        ["only the tenant header", { "x-scope-orgid": "team-b" }, 401],
        ["wrong password", { authorization: basic("a-writer", "nope") }, 401],
        ["a read-only user", { authorization: USERS.aReader.auth }, 403],
        ["a read-only user of two tenants", { authorization: USERS.both.auth, "x-scope-orgid": "team-b" }, 403],
        ["a writer naming another tenant", { authorization: USERS.aWriter.auth, "x-scope-orgid": "team-b" }, 403],
        ["a metrics/admin user", { authorization: USERS.ops.auth }, 403],
      ];
      for (const [path, bodyOf] of WRITES) {
        for (const [why, headers, expected] of cases) {
          const res = await call(url, path, { method: "POST", headers, body: bodyOf(intruder) });
          expect({ path, why, status: res.status }).toEqual({ path, why, status: expected });
        }
      }
      const q = `/query?${new URLSearchParams({ namespace: n, pod_name: "web-1", container_name: "nginx", ...DAY })}`;
      for (const who of [{ authorization: USERS.aReader.auth }, { authorization: USERS.bReader.auth }]) {
        expect(await (await call(url, q, { headers: who })).text()).not.toContain(intruder);
      }
      expect(await (await call(served.url, q)).text()).not.toContain(intruder);
      expect(await (await call(headerUrl, q, { headers: { "x-scope-orgid": "team-b" } })).text()).not.toContain(intruder);
      // Each write route stores a writer's line in its own tenant only.
      for (const [path, bodyOf] of WRITES) {
        const line = `via-${path}-${n}`;
        const headers = { authorization: USERS.aWriter.auth, "content-type": "application/json" };
        const res = await call(url, path, { method: "POST", headers, body: bodyOf(line) });
        expect({ path, status: res.status }).toEqual({ path, status: path.startsWith("/loki") ? 204 : 200 });
        expect(await (await call(url, q, { headers: { authorization: USERS.aReader.auth } })).text()).toContain(line);
        expect(await (await call(url, q, { headers: { authorization: USERS.bReader.auth } })).text()).not.toContain(line);
        expect(await (await call(served.url, q)).text()).not.toContain(line);
      }
    });

    test("a cursor minted for one tenant is refused (403) for another, whatever the credentials", async () => {
      const n2 = unique("cursor");
      for (const [who, log, time] of [
        [USERS.aWriter, "a1", "2026-05-03T12:00:01Z"],
        [USERS.aWriter, "a2", "2026-05-03T12:00:02Z"],
        [USERS.bWriter, "b1", "2026-05-03T12:00:01Z"],
        [USERS.bWriter, "b2", "2026-05-03T12:00:02Z"],
      ] as const) {
        const res = await call(url, "/write", {
          method: "POST",
          headers: { authorization: who.auth },
          body: JSON.stringify([fbRecord({ namespace: n2, pod: "p", container: "c", log, time })]),
        });
        expect(res.status).toBe(200);
      }
      const params = { namespace: n2, pod_name: "p", container_name: "c", ...DAY, limit: "1" };
      const first = await call(url, `/query?${new URLSearchParams(params)}`, { headers: { authorization: USERS.aReader.auth } });
      const page = (await first.json()) as { log_rows: { log: string }[]; next_cursor: string };
      expect(page.log_rows.map((r) => r.log)).toEqual(["a1"]);
      const next = `/query?${new URLSearchParams({ ...params, cursor: page.next_cursor })}`;
      const others: Record<string, string>[] = [
        { authorization: USERS.bReader.auth },
        { authorization: USERS.both.auth, "x-scope-orgid": "team-b" },
      ];
      for (const headers of others) {
        const res = await call(url, next, { headers });
        expect(res.status).toBe(403);
        expect(await res.text()).not.toContain("a2");
      }
      // Header tenancy: the same cursor under another tenant's header is refused too.
      const viaHeader = await call(headerUrl, next, { headers: { "x-scope-orgid": "team-b" } });
      expect(viaHeader.status).toBe(403);
      // Its own tenant continues.
      const own = await call(url, next, { headers: { authorization: USERS.both.auth, "x-scope-orgid": "team-a" } });
      expect(((await own.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log)).toEqual(["a2"]);
    });

    test("profiling needs the admin role; metrics and health stay open without --auth-protect-all", async () => {
      expect((await call(url, "/debug/memory")).status).toBe(401);
      expect((await call(url, "/debug/memory", { headers: { authorization: USERS.aReader.auth } })).status).toBe(403);
      expect((await call(url, "/debug/memory", { headers: { authorization: USERS.ops.auth } })).status).toBe(200);
      expect((await call(url, "/metrics")).status).toBe(200);
      expect((await call(url, "/write")).status).toBe(200);
    });

    test("with --auth-protect-all: health and docs need any user, metrics the metrics or admin role", async () => {
      const guarded = served.server({ authFile: await authFile(), tenancy: "header", authProtectAll: true });
      for (const path of ["/write", "/swagger", "/swagger/json", "/metrics"]) {
        expect({ path, status: (await call(guarded, path)).status }).toEqual({ path, status: 401 });
      }
      for (const path of ["/write", "/swagger/json"]) {
        expect((await call(guarded, path, { headers: { authorization: USERS.aWriter.auth } })).status).toBe(200);
      }
      expect((await call(guarded, "/metrics", { headers: { authorization: USERS.aReader.auth } })).status).toBe(403);
      const metrics = await call(guarded, "/metrics", { headers: { authorization: USERS.ops.auth } });
      expect(metrics.status).toBe(200);
    });

    test("header tenancy without an auth file: the header is the tenant, and it is required", async () => {
      const q = `/query?${new URLSearchParams({ namespace: n, pod_name: "web-1", container_name: "nginx", ...DAY })}`;
      const missing = await call(headerUrl, q);
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { detail: string }).detail).toContain("X-Scope-OrgID");
      expect((await call(headerUrl, "/write", { method: "POST", body: body("x") })).status).toBe(401);
      const a = await (await call(headerUrl, q, { headers: { "x-scope-orgid": "team-a" } })).text();
      expect(a).toContain(marker.a);
      expect(a).not.toContain(marker.b);
      const c = `written-by-header-${n}`;
      const res = await call(headerUrl, "/write", { method: "POST", headers: { "x-scope-orgid": "team-c" }, body: body(c) });
      expect(res.status).toBe(200);
      expect(await (await call(headerUrl, q, { headers: { "x-scope-orgid": "team-c" } })).text()).toContain(c);
      expect(await (await call(headerUrl, q, { headers: { "x-scope-orgid": "team-a" } })).text()).not.toContain(c);
    });

    test("without tenancy nothing changes: one tenant, the header ignored, the original answer byte for byte", async () => {
      const q = `/query?${new URLSearchParams({ namespace: n, pod_name: "web-1", container_name: "nginx", ...DAY })}`;
      const plain = await (await call(served.url, q)).text();
      expect(plain).toBe(`{"log_rows":[{"time":"2026-05-03T12:00:00Z","log":"${marker.none}","stream":"stdout"}]}`);
      expect(await (await call(served.url, q, { headers: { "x-scope-orgid": "team-a" } })).text()).toBe(plain);
      const names = await (await call(served.url, `/namespaces?${new URLSearchParams(DAY)}`)).text();
      expect(names).toContain(n);
    });

    test("per-tenant limits: ingest over the rate is 429 with Retry-After and not stored; a long range is 400", async () => {
      const limited = { authorization: USERS.limited.auth };
      const n3 = unique("limited");
      const batch = (count: number, tag: string) =>
        JSON.stringify(
          Array.from({ length: count }, (_, i) =>
            fbRecord({ namespace: n3, pod: "p", container: "c", log: `${tag} ${i}`, time: AT }),
          ),
        );
      // 10 lines/s: a bucket of 20 lines. The first 20 are admitted at once.
      expect((await call(url, "/write", { method: "POST", headers: limited, body: batch(20, "first") })).status).toBe(200);
      const over = await call(url, "/write", { method: "POST", headers: limited, body: batch(15, "over") });
      expect(over.status).toBe(429);
      expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await over.json()) as { detail: string }).detail).toContain("10 lines/s");
      // Other tenants are not limited by it.
      expect(
        (await call(url, "/write", { method: "POST", headers: { authorization: USERS.aWriter.auth }, body: batch(50, "a") }))
          .status,
      ).toBe(200);
      const rows = await call(url, `/query?${new URLSearchParams({ selector: `namespace=${n3}`, ...DAY })}`, {
        headers: limited,
      });
      const logs = ((await rows.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log);
      expect(logs.filter((l) => l.startsWith("first"))).toHaveLength(20);
      expect(logs.filter((l) => l.startsWith("over"))).toHaveLength(0);
      expect(logs.filter((l) => l.startsWith("a "))).toHaveLength(0);
      // max_query_range 1d.
      const long = await call(
        url,
        `/query?${new URLSearchParams({ selector: `namespace=${n3}`, start_time: "2026-05-01T00:00:00Z", end_time: "2026-05-04T00:00:00Z" })}`,
        { headers: limited },
      );
      expect(long.status).toBe(400);
      expect(((await long.json()) as { detail: string }).detail).toContain("longest query range of 1d");
      const namespaces = await call(url, `/namespaces?since=72h`, { headers: limited });
      expect(namespaces.status).toBe(400);
      // A tail without a start reads back as far as allowed, not refused.
      expect(
        (await call(url, `/query?${new URLSearchParams({ selector: `namespace=${n3}`, tail: "5" })}`, { headers: limited }))
          .status,
      ).toBe(200);
    });

    test("metrics count lines per tenant", async () => {
      const text = await (await call(url, "/metrics")).text();
      expect(text).toMatch(/logserver_tenant_ingest_lines_total\{tenant="team-a"\} [1-9]/);
      expect(text).toMatch(/logserver_tenant_ingest_lines_total\{tenant="team-b"\} [1-9]/);
      expect(text).toMatch(/logserver_tenant_ingest_limited_total\{tenant="team-limited"\} [1-9]/);
    });
  });
}

describe("every route is in the cross-tenant suite", () => {
  test("the app's routes are the ones tried above, or deliberately tenant-free", () => {
    const app = createApp({} as never, { enableProfiling: true });
    const routes = app.routes.map((r) => `${r.method} ${r.path}`).filter((r) => !r.includes("/swagger"));
    // Read and write routes are tried above; these carry no tenant's data.
    const tenantFree = [
      "GET /write",
      "GET /metrics",
      "GET /debug/",
      "GET /debug/heap",
      "GET /debug/profile",
      "GET /debug/memory",
      "GET /ready",
      "GET /loki/api/v1/status/buildinfo",
      // The explorer's page and scripts: no data (the page reads through the API, with credentials).
      "GET /",
      "GET /assets/*",
    ];
    const tried = [
      "GET /query",
      "GET /namespaces",
      "GET /namespaces/:namespace/pods",
      "GET /labels",
      "GET /labels/:name/values",
      "GET /tail",
      "GET /volume",
      "POST /write",
      "POST /",
      "POST /loki/api/v1/push",
      ...lokiReads("{}").map(([name]) => name),
      "WS /loki/api/v1/tail",
    ];
    expect(routes.sort()).toEqual([...tried, ...tenantFree].sort());
  });
});
