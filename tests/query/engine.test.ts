// The read path (src/query) on every store: selectors resolved through the index, merged reads,
// filters, limits in both directions, exact cursors, discovery and follow. One suite, unchanged,
// for each store (a real embedded database, a real Cassandra node).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CursorError, decodeCursor } from "../../src/query/cursor.ts";
import { labelNames, labelValues, namespaces, pods } from "../../src/query/discovery.ts";
import { fingerprint, runQuery, type LogQuery, type ResultRow } from "../../src/query/engine.ts";
import { Follower, WriteNotifier, type FollowEvent } from "../../src/query/follow.ts";
import { parseSelector } from "../../src/query/selector.ts";
import type { LogEntry, LogStore, OrderedRow, StreamRead, StreamRef } from "../../src/store/store.ts";
import { entry, ns, unique } from "../helpers.ts";
import { storesUnderTest } from "../stores.ts";

const DAY = 86_400_000_000_000n;
const SECOND = 1_000_000_000n;

async function all(q: LogQuery, store: LogStore): Promise<{ rows: ResultRow[]; next?: string }> {
  const rows: ResultRow[] = [];
  const pages = runQuery(store, q);
  let step = await pages.next();
  while (!step.done) {
    rows.push(...step.value);
    step = await pages.next();
  }
  return { rows, next: step.value.nextCursor };
}

const label = (r: ResultRow) => `${r.source.pod}/${r.source.container}:${r.log}`;

function query(selector: string, over: Partial<LogQuery> = {}): LogQuery {
  return {
    tenant: "",
    selector: parseSelector(selector),
    startNs: ns("2024-05-01T00:00:00Z"),
    endNs: ns("2024-06-01T00:00:00Z"),
    direction: "forward",
    filters: [],
    ...over,
  };
}

for (const s of storesUnderTest("engine")) {
  describe(`read path on the ${s.name} store`, () => {
    let store: LogStore;
    beforeAll(async () => {
      store = await s.open();
    }, 120_000);
    afterAll(async () => {
      await store?.close();
      await s.cleanup();
    }, 60_000);

    /** A namespace of three pods: web-1 (nginx, sidecar), web-2 (nginx), db-1 (postgres). */
    async function cluster(): Promise<{ n: string; t0: bigint }> {
      const n = unique("ns");
      const t0 = ns("2024-05-10T10:00:00Z");
      const web = (pod: string, container: string, i: number, extra: Partial<LogEntry> = {}) =>
        entry({
          namespace: n,
          pod,
          container,
          timeNs: t0 + BigInt(i) * SECOND,
          log: `${container} ${i}`,
          labels: { app: "web", tier: "front", "app.kubernetes.io/name": "shop" },
          host: "node-a",
          ...extra,
        });
      await store.write([
        web("web-1", "nginx", 0),
        web("web-1", "nginx", 3, { stream: "stderr", log: "nginx 3 ERROR upstream timed out" }),
        web("web-1", "sidecar", 1),
        web("web-2", "nginx", 2, { host: "node-b" }),
        web("web-2", "nginx", 4, { host: "node-b", log: "nginx 4 error: Connection Refused" }),
        entry({
          namespace: n,
          pod: "db-1",
          container: "postgres",
          timeNs: t0 + 5n * SECOND,
          log: "postgres 5",
          labels: { app: "db", tier: "back" },
          host: "node-c",
        }),
      ]);
      return { n, t0 };
    }

    test("a namespace-wide query merges its containers in time order, rows telling their container", async () => {
      const { n } = await cluster();
      const { rows } = await all(query(`namespace=${n}`), store);
      expect(rows.map(label)).toEqual([
        "web-1/nginx:nginx 0",
        "web-1/sidecar:sidecar 1",
        "web-2/nginx:nginx 2",
        "web-1/nginx:nginx 3 ERROR upstream timed out",
        "web-2/nginx:nginx 4 error: Connection Refused",
        "db-1/postgres:postgres 5",
      ]);
      expect(rows[0]!.source).toMatchObject({ namespace: n, pod: "web-1", container: "nginx", host: "node-a" });
    });

    test("selectors: =, !=, =~, !~ on pod labels, names, host; stream is matched line by line", async () => {
      const { n } = await cluster();
      const logs = async (sel: string) => (await all(query(`namespace=${n},${sel}`), store)).rows.map(label);
      expect(await logs("app=db")).toEqual(["db-1/postgres:postgres 5"]);
      expect(await logs("tier!=front")).toEqual(["db-1/postgres:postgres 5"]);
      expect(await logs('pod=~"web-.*",container=nginx')).toEqual([
        "web-1/nginx:nginx 0",
        "web-2/nginx:nginx 2",
        "web-1/nginx:nginx 3 ERROR upstream timed out",
        "web-2/nginx:nginx 4 error: Connection Refused",
      ]);
      expect(await logs("pod!~web-1")).toEqual([
        "web-2/nginx:nginx 2",
        "web-2/nginx:nginx 4 error: Connection Refused",
        "db-1/postgres:postgres 5",
      ]);
      expect(await logs("host=node-b")).toEqual(["web-2/nginx:nginx 2", "web-2/nginx:nginx 4 error: Connection Refused"]);
      expect(await logs("app.kubernetes.io/name=shop,stream=stderr")).toEqual(["web-1/nginx:nginx 3 ERROR upstream timed out"]);
      expect(await logs("app=nope")).toEqual([]);
      // A regex matches the whole value.
      expect(await logs("pod=~web")).toEqual([]);
    });

    test("line filters: contains, not, regex, not regex, case-insensitive, chained", async () => {
      const { n } = await cluster();
      const logs = async (filters: LogQuery["filters"]) =>
        (await all(query(`namespace=${n}`, { filters }), store)).rows.map((r) => r.log);
      expect(await logs([{ op: "contains", value: "nginx", ignoreCase: false }])).toHaveLength(4);
      expect(await logs([{ op: "contains", value: "error", ignoreCase: true }])).toEqual([
        "nginx 3 ERROR upstream timed out",
        "nginx 4 error: Connection Refused",
      ]);
      expect(await logs([{ op: "regexp", value: "(?i)ERROR", ignoreCase: false }])).toHaveLength(2);
      expect(
        await logs([
          { op: "regexp", value: "^nginx \\d", ignoreCase: false },
          { op: "not_contains", value: "ERROR", ignoreCase: false },
          { op: "not_regexp", value: "refused$", ignoreCase: true },
        ]),
      ).toEqual(["nginx 0", "nginx 2"]);
    });

    test("backward is the exact reverse of forward, equal times and several containers included", async () => {
      const n = unique("ns");
      const at = ns("2024-05-11T00:00:00Z");
      const batch: LogEntry[] = [];
      for (const pod of ["a", "b", "c"]) {
        for (let i = 0; i < 40; i++) batch.push(entry({ namespace: n, pod, timeNs: at + BigInt(i % 7), log: `${pod}${i}` }));
      }
      await store.write(batch);
      const forward = (await all(query(`namespace=${n}`), store)).rows.map(label);
      const backward = (await all(query(`namespace=${n}`, { direction: "backward" }), store)).rows.map(label);
      expect(forward).toHaveLength(120);
      expect(backward).toEqual([...forward].reverse());
    });

    test("paging with a cursor is exact: lines sharing a nanosecond across containers and pages, both directions", async () => {
      const n = unique("ns");
      const at = ns("2024-05-12T00:00:00Z");
      const batch: LogEntry[] = [];
      for (const pod of ["a", "b"]) {
        for (let i = 0; i < 300; i++)
          batch.push(entry({ namespace: n, pod, timeNs: at + BigInt(Math.floor(i / 100)), log: `${pod}${i}` }));
      }
      await store.write(batch);
      for (const direction of ["forward", "backward"] as const) {
        const whole = (await all(query(`namespace=${n}`, { direction }), store)).rows.map(label);
        expect(whole).toHaveLength(600);
        for (const limit of [13, 100, 299]) {
          const paged: string[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < 1000; page++) {
            const q = query(`namespace=${n}`, { direction, limit });
            if (cursor !== undefined) q.cursor = decodeCursor(cursor, fingerprint(q), "");
            const { rows, next } = await all(q, store);
            paged.push(...rows.map(label));
            if (next === undefined || rows.length === 0) break;
            cursor = next;
          }
          expect(paged).toEqual(whole);
        }
      }
    }, 120_000);

    test("a cursor continues where it stopped when new lines arrive between pages", async () => {
      const n = unique("ns");
      const at = ns("2024-05-13T00:00:00Z");
      await store.write(Array.from({ length: 10 }, (_, i) => entry({ namespace: n, timeNs: at + BigInt(i), log: `old ${i}` })));
      const first = await all(query(`namespace=${n}`, { limit: 6 }), store);
      // Newer lines, and one at the very nanosecond of the page's last row, from another batch.
      await store.write([
        entry({ namespace: n, timeNs: at + 100n, log: "new 100" }),
        entry({ namespace: n, timeNs: at + 5n, log: "late at 5" }),
      ]);
      const q = query(`namespace=${n}`, { limit: 100 });
      q.cursor = decodeCursor(first.next!, fingerprint(q), "");
      const rest = await all(q, store);
      const seen = [...first.rows, ...rest.rows].map((r) => r.log);
      expect(first.rows.map((r) => r.log)).toEqual(["old 0", "old 1", "old 2", "old 3", "old 4", "old 5"]);
      expect(rest.rows.map((r) => r.log)).toContain("new 100");
      expect(new Set(seen).size).toBe(seen.length); // nothing repeated
      for (let i = 6; i < 10; i++) expect(seen).toContain(`old ${i}`); // nothing skipped
    });

    test("a cursor belongs to its query: another selector, filter or direction refuses it", async () => {
      const { n } = await cluster();
      const { next } = await all(query(`namespace=${n}`, { limit: 2 }), store);
      expect(() => decodeCursor(next!, fingerprint(query(`namespace=${n},app=web`)), "")).toThrow(CursorError);
      expect(() => decodeCursor(next!, fingerprint(query(`namespace=${n}`, { direction: "backward" })), "")).toThrow(CursorError);
      expect(() => decodeCursor("not-a-cursor", fingerprint(query(`namespace=${n}`)), "")).toThrow(CursorError);
      expect(() => decodeCursor(next!, fingerprint(query(`namespace=${n}`, { limit: 50 })), "")).not.toThrow();
    });

    test("the last lines of a busy container over 30 days read the newest partitions and stop", async () => {
      const n = unique("ns");
      const end = ns("2024-05-31T00:00:00Z");
      // A line every 10 minutes for 30 days: 4,320 lines in thousands of partitions.
      const lines = Array.from({ length: 4320 }, (_, i) =>
        entry({ namespace: n, timeNs: end - BigInt(i) * 600n * SECOND, log: `line ${i}` }),
      );
      for (let i = 0; i < lines.length; i += 1000) await store.write(lines.slice(i, i + 1000));
      const counted = countingReads(store);
      const { rows } = await all(
        query(`namespace=${n}`, { direction: "backward", limit: 100, startNs: end - 30n * DAY, endNs: end }),
        counted.store,
      );
      expect(rows.map((r) => r.log)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
      // What the store handed over: the 100 lines and at most a page or so beyond, not 4,320.
      expect(counted.rowsRead()).toBeLessThan(400);
    }, 120_000);

    test("discovery: namespaces, pods with their containers, label names and values, with first and last times", async () => {
      const { n, t0 } = await cluster();
      const range = [ns("2024-05-10T00:00:00Z"), ns("2024-05-11T00:00:00Z")] as const;
      const spaces = await namespaces(store, "", ...range);
      expect(spaces.find((x) => x.name === n)).toEqual({ name: n, firstNs: t0, lastNs: t0 + 5n * SECOND });
      const found = await pods(store, "", n, ...range);
      expect(found.map((p) => [p.name, p.host, p.labels.app, p.containers.map((c) => c.name), p.firstNs, p.lastNs])).toEqual([
        ["db-1", "node-c", "db", ["postgres"], t0 + 5n * SECOND, t0 + 5n * SECOND],
        ["web-1", "node-a", "web", ["nginx", "sidecar"], t0, t0 + 3n * SECOND],
        ["web-2", "node-b", "web", ["nginx"], t0 + 2n * SECOND, t0 + 4n * SECOND],
      ]);
      expect(found[1]!.containers[1]).toEqual({ name: "sidecar", firstNs: t0 + SECOND, lastNs: t0 + SECOND });
      const sel = parseSelector(`namespace=${n}`);
      expect(await labelNames(store, "", ...range, sel)).toEqual([
        "app",
        "app.kubernetes.io/name",
        "container",
        "host",
        "namespace",
        "pod",
        "tier",
      ]);
      expect(await labelValues(store, "", "pod", ...range, sel)).toEqual(["db-1", "web-1", "web-2"]);
      expect(await labelValues(store, "", "app", ...range, parseSelector(`namespace=${n},tier=front`))).toEqual(["web"]);
      // Outside the range: nothing.
      expect(await pods(store, "", n, ns("2024-05-12T00:00:00Z"), ns("2024-05-13T00:00:00Z"))).toEqual([]);
    });

    test("follow: new lines of the selector arrive in time order, also those written by another store instance", async () => {
      const n = unique("ns");
      const notifier = new WriteNotifier();
      const start = BigInt(Date.now()) * 1_000_000n;
      const follower = new Follower(store, "", parseSelector(`namespace=${n},container=app`), [], start, notifier, {
        pollMs: 200,
      });
      const events = follower[Symbol.asyncIterator]();
      const received: string[] = [];
      const until = async (count: number) => {
        const deadline = Date.now() + 5_000;
        while (received.length < count && Date.now() < deadline) {
          const next = await Promise.race([events.next(), Bun.sleep(deadline - Date.now()).then(() => undefined)]);
          if (next === undefined || next.done) break;
          const e = next.value as FollowEvent;
          if (e.type === "rows") received.push(...e.rows.map((r) => r.log));
        }
      };
      // Times after the follow's start (lines up to it are not new), in the order written.
      let tick = start;
      const now = () => (tick = (BigInt(Date.now()) * 1_000_000n > tick ? BigInt(Date.now()) * 1_000_000n : tick) + 1_000n);
      // Another instance of the store (another server process, on the same data): no notice here.
      const other = await s.open();
      const t0 = Date.now();
      await other.write([entry({ namespace: n, container: "app", timeNs: now(), log: "from the other" })]);
      await until(1);
      expect(Date.now() - t0).toBeLessThan(2_000);
      await store.write([
        entry({ namespace: n, container: "app", timeNs: now(), log: "first" }),
        entry({ namespace: n, container: "other", timeNs: now(), log: "not selected" }),
        entry({ namespace: n, container: "app", timeNs: now(), log: "second" }),
      ]);
      notifier.notify();
      await until(3);
      expect(received).toEqual(["from the other", "first", "second"]);
      follower.close();
      await other.close();
    }, 30_000);

    test("follow: a quiet stream's lines are sent once, also long after the look-back has passed them", async () => {
      const n = unique("ns");
      const start = BigInt(Date.now()) * 1_000_000n;
      // A look-back of 300 ms and reads every 50 ms: the line ages past the look-back four times
      // over before its stream speaks again (the look-back still covers a store's write latency).
      const follower = new Follower(store, "", parseSelector(`namespace=${n}`), [], start, undefined, {
        pollMs: 50,
        lookbackNs: 300_000_000n,
      });
      await store.write([entry({ namespace: n, timeNs: start + 1_000n, log: "only once" })]);
      const events = follower[Symbol.asyncIterator]();
      const received: string[] = [];
      // One pending next() at a time, kept across reads: a next() that lost a race still delivers.
      let pending: Promise<IteratorResult<FollowEvent>> | undefined;
      const read = async (ms: number) => {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
          pending ??= events.next();
          const next = await Promise.race([pending, Bun.sleep(deadline - Date.now()).then(() => undefined)]);
          if (next === undefined) break;
          pending = undefined;
          if (next.done) break;
          if (next.value.type === "rows") received.push(...next.value.rows.map((r) => r.log));
        }
      };
      await read(1_200);
      // The stream speaks again: it is read from its last line less the look-back, which meets
      // the first line again; it must not be sent twice.
      await store.write([entry({ namespace: n, timeNs: BigInt(Date.now()) * 1_000_000n, log: "later" })]);
      await read(1_500);
      follower.close();
      expect(received).toEqual(["only once", "later"]);
    }, 20_000);

    test("follow: a reader that falls behind gets a bounded buffer and is told what was dropped", async () => {
      const n = unique("ns");
      const start = BigInt(Date.now()) * 1_000_000n;
      const follower = new Follower(store, "", parseSelector(`namespace=${n}`), [], start, undefined, {
        pollMs: 100,
        bufferLines: 50,
      });
      const base = start + 1_000_000n; // after the follow starts: lines up to its start are not new
      await store.write(Array.from({ length: 200 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(i), log: `l${i}` })));
      await Bun.sleep(600); // the follower reads while nobody reads from it
      const events = follower[Symbol.asyncIterator]();
      const seen: FollowEvent[] = [];
      for (let i = 0; i < 10; i++) {
        const next = await Promise.race([events.next(), Bun.sleep(1_000).then(() => undefined)]);
        if (next === undefined || next.done) break;
        seen.push(next.value);
        if (next.value.type === "dropped") break;
      }
      follower.close();
      const delivered = seen.flatMap((e) => (e.type === "rows" ? e.rows : []));
      expect(delivered).toHaveLength(50);
      expect(seen.at(-1)).toEqual({ type: "dropped", count: 150 });
    }, 20_000);
  });
}

/** The store as it is, counting the rows its reads hand over. */
function countingReads(store: LogStore): { store: LogStore; rowsRead: () => number } {
  let rows = 0;
  const counted = Object.create(store) as LogStore;
  counted.read = async function* (stream: StreamRef, range: StreamRead): AsyncIterable<OrderedRow[]> {
    for await (const page of store.read(stream, range)) {
      rows += page.length;
      yield page;
    }
  };
  return { store: counted, rowsRead: () => rows };
}
