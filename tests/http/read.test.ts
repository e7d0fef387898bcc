// The native read API over real HTTP on each store: /query's new parameters (and the original's
// answer, byte for byte), discovery, and /tail as Server-Sent Events.
import { describe, expect, test } from "bun:test";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";

type Row = { time: string; log: string; stream: string; namespace?: string; pod_name?: string; container_name?: string };

/** Records of a namespace: pods web-1 (nginx, sidecar) and web-2 (nginx), a second apart. */
function records(n: string, base = Date.UTC(2026, 4, 3, 12)) {
  const at = (i: number) => new Date(base + i * 1000).toISOString();
  return [
    fbRecord({ namespace: n, pod: "web-1", container: "nginx", log: "GET / 200", time: at(0), labels: { app: "web" } }),
    fbRecord({ namespace: n, pod: "web-1", container: "sidecar", log: "sync ok", time: at(1), labels: { app: "web" } }),
    fbRecord({
      namespace: n,
      pod: "web-2",
      container: "nginx",
      log: "GET /x 500 ERROR",
      time: at(2),
      labels: { app: "web" },
      stream: "stderr",
    }),
    fbRecord({ namespace: n, pod: "web-1", container: "nginx", log: "GET /y 404", time: at(3), labels: { app: "web" } }),
  ];
}

for (const s of storesUnderTest("read-api")) {
  describe(`native read API on the ${s.name} store`, () => {
    const served = servedStore(s);
    const write = async (body: unknown[]) => {
      const res = await fetch(`${served.url}/write`, { method: "POST", body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    };
    const get = async (path: string, params: Record<string, string | string[]>) => {
      const search = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) search.append(k, one);
      return fetch(`${served.url}${path}?${search}`);
    };
    const rows = async (params: Record<string, string | string[]>) => {
      const res = await get("/query", params);
      expect(res.status).toBe(200);
      return (await res.json()) as { log_rows: Row[]; next_cursor?: string };
    };
    const range = { start_time: "2026-05-03T00:00:00Z", end_time: "2026-05-04T00:00:00Z" };

    test("the original's query answers as it did, byte for byte", async () => {
      const n = unique();
      await write(records(n));
      const res = await get("/query", { namespace: n, pod_name: "web-1", container_name: "nginx", ...range });
      expect(await res.text()).toBe(
        '{"log_rows":[{"time":"2026-05-03T12:00:00Z","log":"GET / 200","stream":"stdout"},' +
          '{"time":"2026-05-03T12:00:03Z","log":"GET /y 404","stream":"stdout"}]}',
      );
    });

    test("all containers of a pod, all pods of a namespace, a selector: rows say where they come from", async () => {
      const n = unique();
      await write(records(n));
      const pod = await rows({ namespace: n, pod_name: "web-1", ...range });
      expect(pod.log_rows.map((r) => `${r.pod_name}/${r.container_name}:${r.log}`)).toEqual([
        "web-1/nginx:GET / 200",
        "web-1/sidecar:sync ok",
        "web-1/nginx:GET /y 404",
      ]);
      expect(pod.log_rows[0]).toEqual({
        time: "2026-05-03T12:00:00Z",
        log: "GET / 200",
        stream: "stdout",
        namespace: n,
        pod_name: "web-1",
        container_name: "nginx",
      });
      expect((await rows({ namespace: n, ...range })).log_rows).toHaveLength(4);
      const selected = await rows({ selector: `namespace=${n},container=nginx,pod!=web-1`, ...range });
      expect(selected.log_rows.map((r) => r.log)).toEqual(["GET /x 500 ERROR"]);
    });

    test("filters, stream, direction, limit and cursor", async () => {
      const n = unique();
      await write(records(n));
      expect((await rows({ namespace: n, filter: "GET", filter_out: "404", ...range })).log_rows.map((r) => r.log)).toEqual([
        "GET / 200",
        "GET /x 500 ERROR",
      ]);
      expect((await rows({ namespace: n, regexp: "error", ignore_case: "true", ...range })).log_rows).toHaveLength(1);
      expect(
        (await rows({ namespace: n, regexp: ["^GET", "(?i)ERROR|404"], regexp_out: "x", ...range })).log_rows.map((r) => r.log),
      ).toEqual(["GET /y 404"]);
      expect((await rows({ namespace: n, stream: "stderr", ...range })).log_rows.map((r) => r.log)).toEqual(["GET /x 500 ERROR"]);
      const back = await rows({ namespace: n, direction: "backward", limit: "3", ...range });
      expect(back.log_rows.map((r) => r.log)).toEqual(["GET /y 404", "GET /x 500 ERROR", "sync ok"]);
      const rest = await rows({ namespace: n, direction: "backward", limit: "3", cursor: back.next_cursor!, ...range });
      expect(rest.log_rows.map((r) => r.log)).toEqual(["GET / 200"]);
      expect(rest.next_cursor).toBeUndefined();
    });

    test("tail: the last N lines, oldest first; since: the last duration", async () => {
      const n = unique();
      await write(records(n, Date.now() - 600_000)); // ten minutes ago
      const tail = await rows({ namespace: n, tail: "2" });
      expect(tail.log_rows.map((r) => r.log)).toEqual(["GET /x 500 ERROR", "GET /y 404"]);
      const older = await rows({ namespace: n, tail: "2", cursor: tail.next_cursor! });
      expect(older.log_rows.map((r) => r.log)).toEqual(["GET / 200", "sync ok"]);
      expect((await rows({ namespace: n, since: "15m" })).log_rows).toHaveLength(4);
      expect((await rows({ namespace: n, since: "5m" })).log_rows).toEqual([]);
      expect((await rows({ namespace: n, since: "1h", tail: "1" })).log_rows.map((r) => r.log)).toEqual(["GET /y 404"]);
    });

    test("bad parameters are a 400 naming them", async () => {
      const n = unique();
      const cases: [Record<string, string>, string][] = [
        [{ namespace: n, regexp: "(unclosed", ...range }, "regexp:"],
        [{ selector: "app~web", ...range }, "selector:"],
        [{ selector: 'app=~"(x"', ...range }, "selector:"],
        [{ namespace: n, limit: "0", ...range }, "limit:"],
        [{ namespace: n, limit: "100001", ...range }, "limit:"],
        [{ namespace: n, limit: "ten", ...range }, "limit:"],
        [{ namespace: n, direction: "sideways", ...range }, "direction:"],
        [{ namespace: n, cursor: "!!!", ...range }, "cursor:"],
        [{ namespace: n, stream: "stdin", ...range }, "stream:"],
        [{ namespace: n, since: "yesterday" }, "since:"],
        [{ namespace: n, since: "1h", start_time: range.start_time }, "start_time and since"],
        [{ namespace: n, tail: "5", limit: "5" }, "tail and limit"],
        [{ pod_name: "x", ...range }, "missing query parameter: namespace"],
      ];
      for (const [params, detail] of cases) {
        const res = await get("/query", params);
        expect(res.status, JSON.stringify(params)).toBe(400);
        const body = (await res.json()) as { message: string; detail: string };
        expect(body.detail, JSON.stringify(params)).toContain(detail);
      }
      // A cursor of another query.
      await write(records(n));
      const first = await rows({ namespace: n, limit: "1", ...range });
      const res = await get("/query", { namespace: n, limit: "1", filter: "x", cursor: first.next_cursor!, ...range });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain("belongs to another query");
    });

    test("discovery: namespaces, pods and containers, labels", async () => {
      const n = unique();
      await write(records(n));
      const json = async (path: string, params: Record<string, string> = range) => {
        const res = await get(path, params);
        expect(res.status).toBe(200);
        return res.json() as Promise<Record<string, unknown>>;
      };
      const spaces = (await json("/namespaces")).namespaces as { name: string; first_seen: string; last_seen: string }[];
      expect(spaces.find((x) => x.name === n)).toEqual({
        name: n,
        first_seen: "2026-05-03T12:00:00Z",
        last_seen: "2026-05-03T12:00:03Z",
      });
      expect(await json(`/namespaces/${n}/pods`)).toEqual({
        pods: [
          {
            name: "web-1",
            first_seen: "2026-05-03T12:00:00Z",
            last_seen: "2026-05-03T12:00:03Z",
            labels: { app: "web" },
            host: "worker1",
            containers: [
              { name: "nginx", first_seen: "2026-05-03T12:00:00Z", last_seen: "2026-05-03T12:00:03Z" },
              { name: "sidecar", first_seen: "2026-05-03T12:00:01Z", last_seen: "2026-05-03T12:00:01Z" },
            ],
          },
          {
            name: "web-2",
            first_seen: "2026-05-03T12:00:02Z",
            last_seen: "2026-05-03T12:00:02Z",
            labels: { app: "web" },
            host: "worker1",
            containers: [{ name: "nginx", first_seen: "2026-05-03T12:00:02Z", last_seen: "2026-05-03T12:00:02Z" }],
          },
        ],
      });
      expect(await json("/labels", { ...range, selector: `namespace=${n}` })).toEqual({
        labels: ["app", "container", "host", "namespace", "pod"],
      });
      expect(await json("/labels/container/values", { ...range, selector: `namespace=${n}` })).toEqual({
        values: ["nginx", "sidecar"],
      });
      const bad = await get("/namespaces", { since: "soon" });
      expect(bad.status).toBe(400);
    });

    test("tail over SSE: the last lines, then new ones within 2 s, and a filter holds", async () => {
      const n = unique();
      const now = Date.now();
      await write(records(n, now - 60_000));
      const controller = new AbortController();
      const res = await fetch(`${served.url}/tail?${new URLSearchParams({ namespace: n, tail: "2", filter_out: "sync" })}`, {
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/event-stream");
      const events = sseEvents(res.body!);
      const lines: Row[] = [];
      const take = async (count: number, ms: number) => {
        const deadline = Date.now() + ms;
        while (lines.length < count && Date.now() < deadline) {
          const next = await Promise.race([events.next(), Bun.sleep(deadline - Date.now()).then(() => undefined)]);
          if (next === undefined || next.done) break;
          if (next.value.event === "line") lines.push(JSON.parse(next.value.data) as Row);
        }
      };
      await take(2, 5_000);
      expect(lines.map((r) => r.log)).toEqual(["GET /x 500 ERROR", "GET /y 404"]);
      const t0 = Date.now();
      await write([
        fbRecord({ namespace: n, pod: "web-3", container: "nginx", log: "sync again", time: new Date().toISOString() }),
        fbRecord({
          namespace: n,
          pod: "web-3",
          container: "nginx",
          log: "a new line",
          time: new Date(Date.now() + 1).toISOString(),
        }),
      ]);
      await take(3, 5_000);
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(lines[2]).toMatchObject({ log: "a new line", namespace: n, pod_name: "web-3", container_name: "nginx" });
      controller.abort();
    }, 20_000);
  });
}

/** Server-Sent Events of a body, as {event, data}. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) yield { event, data: data.join("\n") };
    }
  }
}
