// /metrics, the OpenAPI docs and the profiling endpoints, through app.handle.
import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { fbRecord, get, post, unique } from "../helpers.ts";

const store = new EmbeddedStore({ dataDir: ":memory:" });
afterAll(() => store.close());

describe("GET /metrics", () => {
  const app = createApp(store);

  test("counts requests by method, route pattern and status code, with latency histograms", async () => {
    await app.handle(get("/write"));
    await app.handle(get("/query"));
    await app.handle(get("/no/such/path?x=1"));
    await app.handle(post(JSON.stringify([fbRecord({ namespace: unique() })])));
    // Requests are counted once their answer is sent, a moment after app.handle resolves.
    let res = await app.handle(get("/metrics"));
    let text = await res.text();
    for (let i = 0; i < 50 && !text.includes('method="POST",route="/write"'); i++) {
      await Bun.sleep(10);
      res = await app.handle(get("/metrics"));
      text = await res.text();
    }
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(text).toContain('http_requests_total{method="GET",route="/write",status_code="200"} 1');
    expect(text).toContain('http_requests_total{method="GET",route="/query",status_code="400"} 1');
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status_code="404"} 1');
    expect(text).toContain('http_requests_total{method="POST",route="/write",status_code="200"} 1');
    expect(text).toContain('http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/write",status_code="200"} 1');
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/write",status_code="200"} 1');
    expect(text).toContain('logserver_ingest_records_accepted_total{format="json"} 1');
    expect(text).toMatch(/logserver_ingest_wire_bytes_total\{encoding="identity"\} \d+/);
    expect(text).toMatch(/logserver_store_write_duration_seconds_count\{store="embedded",result="ok"\} 1/);
  });

  test("exposes the process metrics that are right under Bun, and not the wrong ones", async () => {
    const text = await (await app.handle(get("/metrics"))).text();
    const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text)?.[1]);
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
    expect(value("process_open_fds")).toBeGreaterThan(2);
    expect(value("process_max_fds")).toBeGreaterThan(value("process_open_fds"));
    expect(Math.abs(value("process_start_time_seconds") - Date.now() / 1000)).toBeLessThan(3600);
    expect(value("bun_js_heap_size_bytes")).toBeGreaterThan(0);
    expect(text).not.toContain("nodejs_eventloop_lag");
    expect(text).not.toContain("nodejs_gc_duration");
  });
});

describe("OpenAPI docs", () => {
  const app = createApp(store);

  test("/swagger serves the UI with its script and styles from this server", async () => {
    const res = await app.handle(get("/swagger"));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('src="/swagger/assets/swagger-ui-bundle.js"');
    expect(html).toContain('href="/swagger/assets/swagger-ui.css"');
    expect(html).not.toContain("unpkg.com");
    const js = await app.handle(get("/swagger/assets/swagger-ui-bundle.js"));
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(500_000);
    const css = await app.handle(get("/swagger/assets/swagger-ui.css"));
    expect(css.headers.get("content-type")).toContain("text/css");
  });

  test("/swagger/json documents every route with parameters and response shapes", async () => {
    const spec = (await (await app.handle(get("/swagger/json"))).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; required: boolean }[]; responses?: Record<string, unknown> }>
      >;
    };
    expect(spec.openapi).toStartWith("3.");
    expect(Object.keys(spec.paths).sort()).toEqual([
      "/",
      "/labels",
      "/labels/{name}/values",
      "/loki/api/v1/index/stats",
      "/loki/api/v1/index/volume",
      "/loki/api/v1/index/volume_range",
      "/loki/api/v1/label/{name}/values",
      "/loki/api/v1/labels",
      "/loki/api/v1/push",
      "/loki/api/v1/query",
      "/loki/api/v1/query_range",
      "/loki/api/v1/series",
      "/loki/api/v1/status/buildinfo",
      "/loki/api/v1/tail",
      "/metrics",
      "/namespaces",
      "/namespaces/{namespace}/pods",
      "/query",
      "/ready",
      "/tail",
      "/volume",
      "/write",
    ]);
    const query = spec.paths["/query"]!.get!;
    // The original's parameters first, then the read API's; required ones are checked by the route
    // (namespace unless selector, start_time unless since or tail), so none is required here.
    expect(query.parameters!.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        "namespace",
        "pod_name",
        "container_name",
        "start_time",
        "end_time",
        "selector",
        "filter",
        "regexp",
        "since",
        "tail",
        "limit",
        "direction",
        "cursor",
      ]),
    );
    expect(Object.keys(query.responses!)).toEqual(expect.arrayContaining(["200", "400", "503"]));
    expect(JSON.stringify(query.responses!["200"])).toContain("log_rows");
    expect(Object.keys(spec.paths["/write"]!.post!.responses!)).toEqual(
      expect.arrayContaining(["200", "400", "413", "415", "503"]),
    );
    expect(JSON.stringify(spec.paths["/write"]!.get!.responses!["200"])).toContain("healthy");
  });
});

describe("profiling endpoints", () => {
  test("are absent (404) unless enabled", async () => {
    const app = createApp(store);
    for (const path of ["/debug/", "/debug/heap", "/debug/profile", "/debug/memory"]) {
      expect((await app.handle(get(path))).status).toBe(404);
    }
  });

  const app = createApp(store, { enableProfiling: true });

  test("/debug/memory reports process and heap figures", async () => {
    const res = await app.handle(get("/debug/memory"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { process: { rss: number }; heap: { heapSize: number } };
    expect(body.process.rss).toBeGreaterThan(0);
    expect(body.heap.heapSize).toBeGreaterThan(0);
  });

  test("/debug/heap is a V8 heap snapshot (Chrome DevTools format)", async () => {
    const res = await app.handle(get("/debug/heap"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toContain(".heapsnapshot");
    const snapshot = (await res.json()) as { snapshot: { meta: { node_fields: string[] }; node_count: number }; nodes: number[] };
    expect(snapshot.snapshot.meta.node_fields).toContain("self_size");
    expect(snapshot.nodes.length).toBeGreaterThan(0);
  });

  test("/debug/profile?seconds=1 is a .cpuprofile that sees the work done meanwhile", async () => {
    function burnCpuForProfileTest() {
      let x = 0;
      for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
      return x;
    }
    const pending = app.handle(get("/debug/profile?seconds=1"));
    const until = Date.now() + 800;
    while (Date.now() < until) {
      burnCpuForProfileTest();
      await Bun.sleep(1);
    }
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toContain(".cpuprofile");
    const profile = (await res.json()) as {
      nodes: { callFrame: { functionName: string } }[];
      startTime: number;
      endTime: number;
      samples: number[];
    };
    expect(profile.nodes[0]!.callFrame.functionName).toBe("(root)");
    expect(profile.endTime).toBeGreaterThan(profile.startTime);
    expect(profile.samples.length).toBeGreaterThan(10);
    expect(profile.nodes.map((n) => n.callFrame.functionName)).toContain("burnCpuForProfileTest");
  });

  test("/debug/profile refuses a bad duration", async () => {
    for (const s of ["0", "-1", "abc", "301"]) {
      const res = await app.handle(get(`/debug/profile?seconds=${s}`));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        message: "invalid query",
        detail: "invalid profile duration: seconds must be in (0, 300]",
      });
    }
  });
});

describe("profiling with credentials set", () => {
  const paths = ["/debug/", "/debug/memory", "/debug/heap", "/debug/profile?seconds=0.2"];
  const basic = `Basic ${Buffer.from("fluent:s3cret").toString("base64")}`;

  for (const protectAll of [false, true]) {
    test(`every profiling endpoint requires them (--auth-protect-all ${protectAll})`, async () => {
      const app = createApp(store, {
        enableProfiling: true,
        authBasic: "fluent:s3cret",
        authToken: "tok-123",
        authProtectAll: protectAll,
      });
      for (const path of paths) {
        const wrong: Record<string, string>[] = [
          {},
          { authorization: "Bearer wrong" },
          { authorization: `Basic ${Buffer.from("fluent:nope").toString("base64")}` },
        ];
        for (const headers of wrong) {
          const res = await app.handle(get(path, headers));
          expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
          expect(res.headers.get("www-authenticate")).toContain("Basic");
          expect(Object.keys((await res.json()) as object).sort()).toEqual(["detail", "message"]);
        }
        for (const authorization of [basic, "Bearer tok-123"]) {
          expect((await app.handle(get(path, { authorization }))).status, path).toBe(200);
        }
      }
    }, 20_000);
  }

  test("a heap snapshot taken with credentials holds them: why it is protected", async () => {
    const token = `tok-${crypto.randomUUID()}`;
    const app = createApp(store, { enableProfiling: true, authToken: token });
    const snapshot = await (await app.handle(get("/debug/heap", { authorization: `Bearer ${token}` }))).text();
    expect(snapshot).toContain(token);
  });

  test("basic credentials are decoded strictly: junk after valid base64 is refused", async () => {
    const app = createApp(store, { authBasic: "u:p w" });
    const valid = Buffer.from("u:p w").toString("base64"); // "dTpwIHc="
    expect((await app.handle(get("/metrics"))).status).toBe(200);
    expect((await app.handle(post("[]", { authorization: `Basic ${valid}` }))).status).toBe(200);
    for (const junk of [`${valid}<junk>`, `${valid}!!`, `${valid.slice(0, -1)}`, `${valid} extra`, `*${valid}`]) {
      expect((await app.handle(post("[]", { authorization: `Basic ${junk}` }))).status, junk).toBe(401);
    }
  });
});
