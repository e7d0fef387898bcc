// The LogStore contract: one suite, run unchanged against every store implementation.
// Each test writes under its own namespace, so a shared store needs no cleaning between tests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseRetentionRules, RetentionPolicy } from "../../src/store/retention.ts";
import {
  DEFAULT_PAGE_BYTES,
  StoreUnavailableError,
  type LogEntry,
  type LogStore,
  type MinuteCount,
  type OrderedRow,
  type StreamInfo,
  type StreamRead,
  type StreamRef,
} from "../../src/store/store.ts";
import { NS_PER_SECOND, nowNs } from "../../src/time.ts";
import { entry, ns, queryAll, unique, type Query } from "../helpers.ts";

const MINUTE_NS = 60n * NS_PER_SECOND;

/** Every count of a stream in a range, as the store pages them. */
async function countsOf(store: LogStore, ref: StreamRef, startNs: bigint, endNs: bigint): Promise<MinuteCount[]> {
  const out: MinuteCount[] = [];
  for await (const page of store.counts(ref, startNs, endNs)) out.push(...page);
  return out;
}

/** What the counts of some entries must be: by minute, stream and level, in that order. */
function expectedCounts(entries: LogEntry[]): MinuteCount[] {
  const byKey = new Map<string, MinuteCount>();
  for (const e of entries) {
    // Right-closed minutes: the count keyed m holds m < time <= m + 1 min (times after 1970 here).
    const minuteNs = e.timeNs - 1n - ((e.timeNs - 1n) % MINUTE_NS);
    const level = e.level ?? "";
    const key = JSON.stringify([String(minuteNs), e.stream, level]);
    const c = byKey.get(key) ?? { minuteNs, stream: e.stream, level, lines: 0, bytes: 0 };
    c.lines++;
    c.bytes += new TextEncoder().encode(e.log).length;
    byKey.set(key, c);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byKey.values()].sort(
    (a, b) =>
      (a.minuteNs < b.minuteNs ? -1 : a.minuteNs > b.minuteNs ? 1 : 0) || cmp(a.stream, b.stream) || cmp(a.level, b.level),
  );
}

export interface ContractOptions {
  /** Per-test timeout (ms): a networked store needs more than the default. */
  timeout?: number;
}

/** What a test asks of the store it opens: given, a new, empty store of its own with these. */
export interface ContractStoreOptions {
  retention: RetentionPolicy;
}

export function storeContract(
  name: string,
  open: (options?: ContractStoreOptions) => Promise<LogStore>,
  options: ContractOptions = {},
): void {
  describe(`LogStore contract: ${name}`, () => {
    let store: LogStore;
    beforeAll(async () => {
      store = await open();
    }, 120_000);
    afterAll(async () => {
      await store?.close();
    }, 60_000);

    const t = options.timeout ?? 20_000;
    const q = (namespace: string, start: string, end: string, over: Partial<Query> = {}): Query => ({
      tenant: "",
      namespace,
      pod: "pod-a",
      container: "main",
      startNs: ns(start),
      endNs: ns(end),
      ...over,
    });

    test("is healthy once open", async () => {
      expect(await store.health()).toEqual({ healthy: true, detail: "" });
    });

    test(
      "returns written lines in time order with nanoseconds kept",
      async () => {
        const n = unique();
        const times = ["2024-03-01T10:00:00.000000003Z", "2024-03-01T10:00:00.000000001Z", "2024-03-01T10:00:00.5Z"];
        await store.write(times.map((time, i) => entry({ namespace: n, timeNs: ns(time), log: `line ${i}` })));
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => [r.timeNs, r.log, r.stream])).toEqual([
          [ns(times[1]!), "line 1", "stdout"],
          [ns(times[0]!), "line 0", "stdout"],
          [ns(times[2]!), "line 2", "stdout"],
        ]);
      },
      t,
    );

    test(
      "bounds are inclusive and the range filters",
      async () => {
        const n = unique();
        const at = (s: string) => entry({ namespace: n, timeNs: ns(s), log: s });
        await store.write([at("2024-03-01T10:00:00Z"), at("2024-03-01T10:00:01Z"), at("2024-03-01T10:00:02Z")]);
        const rows = await queryAll(store, q(n, "2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z"));
        expect(rows.map((r) => r.log)).toEqual(["2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z"]);
        const none = await queryAll(store, q(n, "2024-03-01T10:00:00.000000001Z", "2024-03-01T10:00:00.999999999Z"));
        expect(none).toEqual([]);
      },
      t,
    );

    test(
      "a query across day borders returns both sides in order",
      async () => {
        const n = unique();
        const times = [
          "2024-02-28T23:59:59.999999999Z",
          "2024-02-29T00:00:00Z",
          "2024-02-29T23:59:59.5Z",
          "2024-03-01T00:00:00.000000001Z",
          "2024-03-02T12:00:00Z",
        ];
        // Written newest first: the store orders, not the writer.
        await store.write([...times].reverse().map((time) => entry({ namespace: n, timeNs: ns(time), log: time })));
        const all = await queryAll(store, q(n, "2024-02-28T12:00:00Z", "2024-03-03T00:00:00Z"));
        expect(all.map((r) => r.log)).toEqual(times);
        const middle = await queryAll(store, q(n, "2024-02-29T00:00:00Z", "2024-03-01T00:00:00.000000001Z"));
        expect(middle.map((r) => r.log)).toEqual(times.slice(1, 4));
      },
      t,
    );

    test(
      "a query with an offset time zone means the same instant",
      async () => {
        const n = unique();
        await store.write([entry({ namespace: n, timeNs: ns("2024-03-01T23:30:00Z"), log: "late" })]);
        const rows = await queryAll(store, q(n, "2024-03-02T00:00:00+01:00", "2024-03-02T00:30:00+01:00"));
        expect(rows.map((r) => r.log)).toEqual(["late"]);
      },
      t,
    );

    test(
      "lines in the same millisecond, and at the same nanosecond, are all kept, in arrival order",
      async () => {
        const n = unique();
        const base = ns("2024-03-01T10:00:00.123Z");
        const batch: LogEntry[] = [];
        for (let i = 0; i < 50; i++) batch.push(entry({ namespace: n, timeNs: base + BigInt(i * 1000), log: `ms ${i}` }));
        // Same nanosecond: arrival order must survive, even against alphabetical or hash order.
        for (const word of ["zulu", "alpha", "mike", "bravo"])
          batch.push(entry({ namespace: n, timeNs: base + 999_999n, log: word }));
        await store.write(batch);
        const rows = await queryAll(store, q(n, "2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z"));
        expect(rows.length).toBe(54);
        expect(rows.slice(0, 50).map((r) => r.log)).toEqual(batch.slice(0, 50).map((e) => e.log));
        expect(rows.slice(50).map((r) => r.log)).toEqual(["zulu", "alpha", "mike", "bravo"]);
      },
      t,
    );

    test(
      "a resent batch adds nothing",
      async () => {
        const n = unique();
        const base = ns("2024-03-01T10:00:00Z");
        const batch = Array.from({ length: 20 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(i), log: `l${i % 3}` }));
        await store.write(batch);
        expect(await store.write(batch)).toEqual({ deduplicated: 0, rejected: [] });
        expect(await store.write(structuredClone(batch))).toEqual({ deduplicated: 0, rejected: [] });
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(batch.map((e) => e.log));
      },
      t,
    );

    test(
      "lines resent in different batches are not duplicated",
      async () => {
        const n = unique();
        const base = ns("2024-03-01T10:00:00Z");
        const lines = Array.from({ length: 30 }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i) * NS_PER_SECOND, log: `line ${i}` }),
        );
        expect(await store.write(lines.slice(0, 20))).toEqual({ deduplicated: 0, rejected: [] });
        // After a restart, Fluent Bit may resend an overlapping range, cut differently: the lines
        // already stored are counted (by stores that can tell), the others stored.
        const counted = (k: number) => (store.countsDeduplicated ? k : 0);
        expect(await store.write(lines.slice(10, 25))).toEqual({ deduplicated: counted(10), rejected: [] });
        expect(await store.write(lines.slice(5, 30))).toEqual({ deduplicated: counted(20), rejected: [] });
        // A byte-identical resend is a retry, not a collapse: the first batch stored all its lines.
        expect(await store.write(lines.slice(0, 20))).toEqual({ deduplicated: 0, rejected: [] });
        // The third batch stored only its last 5 lines; the rest were the others'.
        expect(await store.write(lines.slice(5, 30))).toEqual({ deduplicated: counted(20), rejected: [] });
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(lines.map((e) => e.log));
      },
      t,
    );

    test(
      "two identical lines at the same nanosecond in one batch stay two lines, also when resent",
      async () => {
        const n = unique();
        const at = ns("2024-03-01T10:00:00.000000042Z");
        const batch = [
          entry({ namespace: n, timeNs: at, log: "same" }),
          entry({ namespace: n, timeNs: at, log: "same" }),
          entry({ namespace: n, timeNs: at, log: "same", stream: "stderr" }),
        ];
        await store.write(batch);
        await store.write(batch);
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => [r.log, r.stream])).toEqual([
          ["same", "stdout"],
          ["same", "stdout"],
          ["same", "stderr"],
        ]);
      },
      t,
    );

    test(
      "containers, pods and namespaces are kept apart",
      async () => {
        const n = unique();
        const other = unique();
        const at = ns("2024-03-01T10:00:00Z");
        await store.write([
          entry({ namespace: n, timeNs: at, log: "mine" }),
          entry({ namespace: n, container: "sidecar", timeNs: at, log: "other container" }),
          entry({ namespace: n, pod: "pod-b", timeNs: at, log: "other pod" }),
          entry({ namespace: other, timeNs: at, log: "other namespace" }),
        ]);
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(["mine"]);
        const sidecar = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", { container: "sidecar" }));
        expect(sidecar.map((r) => r.log)).toEqual(["other container"]);
        expect(await queryAll(store, q(unique(), "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"))).toEqual([]);
      },
      t,
    );

    test(
      "names holding NUL or separators never mix two containers",
      async () => {
        const n = unique();
        const at = ns("2024-03-01T10:00:00Z");
        const odd = [
          { pod: "a\u0000b", container: "c", log: "first" },
          { pod: "a", container: "b\u0000c", log: "second" },
          { pod: "a:b", container: "c", log: "third" },
          { pod: "a", container: "b:c", log: "fourth" },
          { pod: "1:a", container: "c", log: "fifth" },
        ];
        await store.write(odd.map((o, i) => entry({ namespace: n, timeNs: at + BigInt(i), ...o })));
        for (const o of odd) {
          const rows = await queryAll(
            store,
            q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", { pod: o.pod, container: o.container }),
          );
          expect(rows.map((r) => r.log)).toEqual([o.log]);
        }
      },
      t,
    );

    test(
      "line text survives byte for byte",
      async () => {
        const n = unique();
        const texts = [
          'ERROR payment "declined" for user café – naïve ✓ 日本語 🚀\nsecond line\twith tab and backslash \\ end',
          "",
          " leading and trailing spaces ",
          "nul \u0000 inside",
          "x".repeat(200_000),
        ];
        const base = ns("2024-03-01T10:00:00Z");
        await store.write(
          texts.map((log, i) => entry({ namespace: n, timeNs: base + BigInt(i), log, stream: i % 2 ? "stderr" : "stdout" })),
        );
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(texts);
        expect(rows.map((r) => r.stream)).toEqual(["stdout", "stderr", "stdout", "stderr", "stdout"]);
      },
      t,
    );

    test(
      "a large result comes back complete and ordered",
      async () => {
        const n = unique();
        const base = ns("2024-03-01T10:00:00Z");
        const total = 12_345;
        const batch = Array.from({ length: total }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i) * 7_000_000n, log: `line ${String(i).padStart(5, "0")}` }),
        );
        for (let i = 0; i < total; i += 1000) await store.write(batch.slice(i, i + 1000));
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.length).toBe(total);
        for (let i = 0; i < total; i++) if (rows[i]!.log !== batch[i]!.log) throw new Error(`row ${i} is ${rows[i]!.log}`);
      },
      Math.max(t, 60_000),
    );

    test(
      "a 30-day range over a quiet container finds its few lines",
      async () => {
        const n = unique();
        const days = [1, 9, 17, 29];
        await store.write(
          days.map((d) =>
            entry({ namespace: n, timeNs: ns(`2024-04-${String(d).padStart(2, "0")}T06:00:00Z`), log: `day ${d}` }),
          ),
        );
        const rows = await queryAll(store, q(n, "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(days.map((d) => `day ${d}`));
      },
      t,
    );

    test(
      "an empty batch is a no-op",
      async () => {
        const n = unique();
        const at = ns("2024-03-01T10:00:00Z");
        await store.write([entry({ namespace: n, timeNs: at, log: "only" })]);
        expect(await store.write([])).toEqual({ deduplicated: 0, rejected: [] });
        const rows = await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"));
        expect(rows.map((r) => r.log)).toEqual(["only"]);
      },
      t,
    );

    test(
      "lines of one nanosecond keep one order across pages, resends and batches",
      async () => {
        const n = unique();
        const at = ns("2024-03-01T10:00:00.000000007Z");
        // More than a page (stores page by bytes; the suite opens them with small pages).
        const first = Array.from({ length: 3000 }, (_, i) =>
          entry({ namespace: n, timeNs: at, log: `a ${String(i).padStart(4, "0")} ${"x".repeat(100)}` }),
        );
        // A later batch that starts at the same nanosecond and goes on past it.
        const second = [
          ...Array.from({ length: 10 }, (_, i) => entry({ namespace: n, timeNs: at, log: `b ${i}` })),
          entry({ namespace: n, timeNs: at + 1n, log: "after" }),
        ];
        await store.write(first);
        await store.write(second);
        const expected = [...first, ...second].map((e) => e.log);
        const read = async () => (await queryAll(store, q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"))).map((r) => r.log);
        expect(await read()).toEqual(expected);
        // Resent, in the other order and in one request: nothing moves.
        await store.write(second);
        await store.write(first);
        expect(await read()).toEqual(expected);
        const [again] = await Promise.all([read(), store.write(structuredClone(first)), store.write(structuredClone(second))]);
        expect(again).toEqual(expected);
        expect(await read()).toEqual(expected);
      },
      Math.max(t, 60_000),
    );

    test(
      "a page holds about a page of text: huge lines come a few at a time",
      async () => {
        const n = unique();
        const base = ns("2024-03-01T10:00:00Z");
        const line = "y".repeat(300_000);
        await store.write(
          Array.from({ length: 12 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(i), log: `${i} ${line}` })),
        );
        let rows = 0;
        const range = q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z");
        for await (const page of store.read(range, { ...range, direction: "forward" })) {
          const bytes = page.reduce((sum, r) => sum + r.log.length, 0);
          expect(bytes).toBeLessThanOrEqual(DEFAULT_PAGE_BYTES + line.length + 10);
          rows += page.length;
        }
        expect(rows).toBe(12);
      },
      Math.max(t, 60_000),
    );

    describe("per-minute counts", () => {
      const ref = (namespace: string, over: Partial<StreamRef> = {}): StreamRef => ({
        tenant: "",
        namespace,
        pod: "pod-a",
        container: "main",
        ...over,
      });
      const at = (s: string) => ns(s);

      test(
        "are exact across minutes, streams and levels, lines and UTF-8 bytes",
        async () => {
          const n = unique();
          const levels = ["info", "error", undefined, "warn"];
          const base = at("2024-03-01T10:00:00Z");
          const first: LogEntry[] = [];
          // Three minutes (the last ends the batch at 10:02:59.999999999), both streams, four levels.
          for (let i = 0; i < 180; i++) {
            first.push(
              entry({
                namespace: n,
                timeNs: base + BigInt(i) * NS_PER_SECOND + 999_999_999n,
                log: i % 7 === 0 ? `café ✓ ${i} 日本語 🚀` : `line ${i}`,
                stream: i % 3 === 0 ? "stderr" : "stdout",
                level: levels[i % 4],
              }),
            );
          }
          // Another batch adds to minutes already counted, out of time order, with an empty stream.
          const second = [
            entry({ namespace: n, timeNs: base + 30n * NS_PER_SECOND + 1n, log: "later, same minute", level: "error" }),
            entry({ namespace: n, timeNs: base + 5n, log: "", stream: "", level: "info" }),
            entry({ namespace: n, timeNs: base + 125n * NS_PER_SECOND, log: "x".repeat(1000), stream: "stderr" }),
          ];
          await store.write(first);
          await store.write(second);
          // Another container of the namespace is counted apart.
          await store.write([entry({ namespace: n, container: "sidecar", timeNs: base, log: "sidecar" })]);
          const all = await countsOf(store, ref(n), at("2024-03-01T00:00:00Z"), at("2024-03-02T00:00:00Z"));
          expect(all).toEqual(expectedCounts([...first, ...second]));
          expect(all.map((c) => c.minuteNs)).toContain(base + MINUTE_NS);
          expect(all.reduce((sum, c) => sum + c.lines, 0)).toBe(183);
          // Minutes whose start lies in the range: the bounds are inclusive, and a minute that
          // starts before the range is not in it.
          const middle = await countsOf(store, ref(n), base + 1n, base + MINUTE_NS);
          expect(middle).toEqual(
            expectedCounts(first.filter((e) => e.timeNs > base + MINUTE_NS && e.timeNs <= base + 2n * MINUTE_NS)),
          );
          expect(await countsOf(store, ref(n), base + 1n, base + MINUTE_NS - 1n)).toEqual([]);
          // A line exactly on a minute counts in the minute it ends (Loki's windows are (t - range, t]).
          expect(await countsOf(store, ref(n, { container: "sidecar" }), base - MINUTE_NS, base)).toEqual([
            { minuteNs: base - MINUTE_NS, stream: "stdout", level: "", lines: 1, bytes: 7 },
          ]);
          expect(await countsOf(store, ref(unique()), base, base + 10n * MINUTE_NS)).toEqual([]);
        },
        t,
      );

      test(
        "a resent batch leaves them as they were, resent alone, twice at once, or with another batch",
        async () => {
          const n = unique();
          const base = at("2024-03-01T10:00:00Z");
          const batch = Array.from({ length: 300 }, (_, i) =>
            entry({
              namespace: n,
              timeNs: base + BigInt(i) * 400_000_000n,
              log: `l${i % 5}`,
              stream: i % 2 ? "stderr" : "stdout",
              level: i % 3 ? "info" : "error",
            }),
          );
          // Two identical lines at one nanosecond are two lines, counted twice, once.
          batch.push(entry({ namespace: n, timeNs: base, log: "twin" }), entry({ namespace: n, timeNs: base, log: "twin" }));
          const other = [entry({ namespace: n, timeNs: base + 3n * MINUTE_NS, log: "other batch" })];
          await store.write(batch);
          const range = [at("2024-03-01T00:00:00Z"), at("2024-03-02T00:00:00Z")] as const;
          const expected = expectedCounts(batch);
          expect(await countsOf(store, ref(n), ...range)).toEqual(expected);
          await store.write(batch);
          await store.write(structuredClone(batch));
          await Promise.all([store.write(batch), store.write(structuredClone(batch)), store.write(other)]);
          expect(await countsOf(store, ref(n), ...range)).toEqual(expectedCounts([...batch, ...other]));
        },
        t,
      );

      test(
        "a 30-day range finds a quiet container's few minutes, and a long one comes back whole across pages",
        async () => {
          const n = unique();
          const days = [1, 9, 17, 29];
          const quiet = days.map((d) =>
            entry({ namespace: n, timeNs: ns(`2024-04-${String(d).padStart(2, "0")}T06:00:30Z`), log: `day ${d}` }),
          );
          await store.write(quiet);
          expect(await countsOf(store, ref(n), at("2024-04-01T00:00:00Z"), at("2024-05-01T00:00:00Z"))).toEqual(
            expectedCounts(quiet),
          );
          // Two days of every minute, two streams and two levels: 11,520 count rows.
          const busy = unique();
          const start = at("2024-04-01T00:00:00Z");
          const lines = Array.from({ length: 2 * 1440 * 4 }, (_, i) =>
            entry({
              namespace: busy,
              timeNs: start + BigInt(i >> 2) * MINUTE_NS + BigInt(i & 3),
              log: `m${i}`,
              stream: i & 1 ? "stderr" : "stdout",
              level: i & 2 ? "error" : "info",
            }),
          );
          for (let k = 0; k < lines.length; k += 2000) await store.write(lines.slice(k, k + 2000));
          let pages = 0;
          const all: MinuteCount[] = [];
          for await (const page of store.counts(ref(busy), at("2024-03-25T00:00:00Z"), at("2024-04-10T00:00:00Z"))) {
            pages++;
            all.push(...page);
          }
          expect(all.length).toBe(11_520);
          expect(all).toEqual(expectedCounts(lines));
          expect(pages).toBeGreaterThan(1);
        },
        Math.max(t, 60_000),
      );

      test(
        "tenants are apart",
        async () => {
          const n = unique();
          const base = at("2024-03-01T10:00:00Z");
          const of = (tenant: string, k: number) =>
            Array.from({ length: k }, (_, i) =>
              entry({ tenant, namespace: n, timeNs: base + 1n + BigInt(i), log: `${tenant}${i}` }),
            );
          await store.write([...of("tenant-a", 3), ...of("tenant-b", 5)]);
          await store.write(of("", 2));
          const lines = async (tenant: string) =>
            (await countsOf(store, ref(n, { tenant }), base, base + MINUTE_NS)).map((c) => c.lines);
          expect(await lines("tenant-a")).toEqual([3]);
          expect(await lines("tenant-b")).toEqual([5]);
          expect(await lines("")).toEqual([2]);
          expect(await lines("tenant-c")).toEqual([]);
        },
        t,
      );
    });

    describe("structured metadata, pod id and container id per line", () => {
      const range = (n: string) => q(n, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z");
      const read = async (n: string, direction: "forward" | "backward", withSource?: boolean) => {
        const out: OrderedRow[] = [];
        for await (const page of store.read(range(n), { ...range(n), direction, withSource })) out.push(...page);
        return out;
      };

      test(
        "come back with the line when the read asks for them, and not otherwise",
        async () => {
          const n = unique();
          const base = ns("2024-03-01T10:00:00Z");
          const odd = { trace_id: "4bf92f3577b34da6", "": "empty key", __proto__: "kept as data", 'k=v,"q"': "ü ✓" };
          const lines = [
            entry({ namespace: n, timeNs: base, log: "with metadata", metadata: { trace_id: "abc", user: "42" } }),
            entry({ namespace: n, timeNs: base + 1n, log: "without" }),
            // Another source (pod restarted: new ids) in the same batch, and odd keys.
            entry({ namespace: n, timeNs: base + 2n, log: "odd", podId: "uid-2", dockerId: "c-2", metadata: odd }),
            entry({ namespace: n, timeNs: base + 3n, log: "empty metadata", metadata: {} }),
          ];
          lines[2]!.metadata = JSON.parse(JSON.stringify(odd)) as Record<string, string>;
          await store.write(lines);
          const shape = (r: OrderedRow) => [r.log, r.podId, r.dockerId, r.metadata];
          const expected = [
            ["with metadata", "pod-id-1", "docker-1", { trace_id: "abc", user: "42" }],
            ["without", "pod-id-1", "docker-1", undefined],
            ["odd", "uid-2", "c-2", lines[2]!.metadata],
            ["empty metadata", "pod-id-1", "docker-1", undefined],
          ];
          const forward = await read(n, "forward", true);
          expect(forward.map(shape)).toEqual(expected);
          expect(Object.keys(forward[2]!.metadata!).sort()).toEqual(Object.keys(lines[2]!.metadata!).sort());
          expect((await read(n, "backward", true)).map(shape)).toEqual([...expected].reverse());
          for (const row of [...(await read(n, "forward")), ...(await read(n, "backward", false))]) {
            expect("podId" in row || "dockerId" in row || "metadata" in row).toBe(false);
          }
          // Metadata is not part of a line's identity: a resend with other metadata adds no line.
          await store.write([{ ...lines[1]!, metadata: { late: "1" } }]);
          expect((await read(n, "forward", true)).length).toBe(4);
        },
        t,
      );
    });

    describe("retention per namespace", () => {
      const MINUTE = 60n * NS_PER_SECOND;
      const HOUR = 60n * MINUTE;
      /** A store of its own with `--retention <defaultSeconds> --retention-rules <rules>`. */
      const withRetention = async (defaultSeconds: number, rules: string, body: (store: LogStore) => Promise<void>) => {
        const own = await open({ retention: new RetentionPolicy(defaultSeconds, parseRetentionRules(rules)) });
        try {
          await body(own);
        } finally {
          await own.close();
        }
      };
      const logsOf = async (store: LogStore, tenant: string, namespace: string, startNs: bigint, endNs: bigint) =>
        (await queryAll(store, { tenant, namespace, pod: "pod-a", container: "main", startNs, endNs })).map((r) => r.log);
      const backward = async (store: LogStore, tenant: string, namespace: string, startNs: bigint, endNs: bigint) => {
        const out: string[] = [];
        const ref = { tenant, namespace, pod: "pod-a", container: "main" };
        for await (const page of store.read(ref, { startNs, endNs, direction: "backward" })) out.push(...page.map((r) => r.log));
        return out;
      };
      const listed = (streams: StreamInfo[]) => Object.fromEntries(streams.map((s) => [s.namespace, s]));

      test(
        "a namespace's rule shortens its retention: its older lines are neither read nor listed, other namespaces' are",
        async () => {
          await withRetention(0, "short-ns=1h", async (store) => {
            const now = nowNs();
            const at = (namespace: string, ago: bigint, log: string) => entry({ namespace, timeNs: now - ago, log });
            await store.write([
              at("short-ns", 3n * HOUR, "short, 3h old"),
              at("short-ns", 2n * HOUR, "short, 2h old"),
              at("short-ns", 10n * MINUTE, "short, 10m old"),
              at("other-ns", 3n * HOUR, "other, 3h old"),
              at("other-ns", 10n * MINUTE, "other, 10m old"),
              // Only old lines: the whole stream is past retention.
              entry({ namespace: "short-ns", pod: "pod-gone", timeNs: now - 2n * HOUR, log: "gone" }),
            ]);
            const [from, to] = [now - 24n * HOUR, now + MINUTE];
            expect(await logsOf(store, "", "short-ns", from, to)).toEqual(["short, 10m old"]);
            expect(await backward(store, "", "short-ns", from, to)).toEqual(["short, 10m old"]);
            expect(await logsOf(store, "", "other-ns", from, to)).toEqual(["other, 3h old", "other, 10m old"]);
            // A range wholly past the rule: nothing of short-ns, all of other-ns.
            expect(await logsOf(store, "", "short-ns", now - 4n * HOUR, now - 90n * MINUTE)).toEqual([]);
            expect(await logsOf(store, "", "other-ns", now - 4n * HOUR, now - 90n * MINUTE)).toEqual(["other, 3h old"]);

            const all = await store.streams("", from, to);
            expect(all.map((s) => `${s.namespace}/${s.pod}`).sort()).toEqual(["other-ns/pod-a", "short-ns/pod-a"]);
            const streams = listed(all);
            // The stream listed starts no earlier than its retention allows.
            expect(streams["short-ns"]!.firstNs).toBeGreaterThanOrEqual(now - HOUR);
            expect(streams["short-ns"]!.lastNs).toBe(now - 10n * MINUTE);
            expect(streams["other-ns"]!.firstNs).toBe(now - 3n * HOUR);
            const old = await store.streams("", now - 4n * HOUR, now - 90n * MINUTE);
            expect(old.map((s) => s.namespace)).toEqual(["other-ns"]);

            // Counts stop where the lines do: nothing of a minute that starts past the cutoff.
            const minutes = async (namespace: string, startNs = from) =>
              (await countsOf(store, { tenant: "", namespace, pod: "pod-a", container: "main" }, startNs, to)).map(
                (c) => c.lines,
              );
            expect(await minutes("short-ns")).toEqual([1]);
            expect(await minutes("other-ns")).toEqual([1, 1]);
            expect(await minutes("short-ns", now - 4n * HOUR)).toEqual([1]);
            expect(
              await countsOf(store, { tenant: "", namespace: "short-ns", pod: "pod-gone", container: "main" }, from, to),
            ).toEqual([]);
          });
        },
        Math.max(t, 60_000),
      );

      test(
        "rules may name a tenant: tenant-a/short-* holds in tenant-a only, -/x in the default tenant only",
        async () => {
          await withRetention(0, "tenant-a/short-*=1h,-/x=1h", async (store) => {
            const now = nowNs();
            const old = (tenant: string, namespace: string) =>
              entry({ tenant, namespace, timeNs: now - 2n * HOUR, log: `${tenant || "-"}/${namespace}` });
            await store.write([
              old("tenant-a", "short-a"),
              old("tenant-b", "short-a"),
              old("", "short-a"),
              old("", "x"),
              old("tenant-a", "x"),
            ]);
            const [from, to] = [now - 24n * HOUR, now + MINUTE];
            expect(await logsOf(store, "tenant-a", "short-a", from, to)).toEqual([]);
            expect(await logsOf(store, "tenant-b", "short-a", from, to)).toEqual(["tenant-b/short-a"]);
            expect(await logsOf(store, "", "short-a", from, to)).toEqual(["-/short-a"]);
            expect(await logsOf(store, "", "x", from, to)).toEqual([]);
            expect(await logsOf(store, "tenant-a", "x", from, to)).toEqual(["tenant-a/x"]);
            const namespaces = async (tenant: string) => (await store.streams(tenant, from, to)).map((s) => s.namespace).sort();
            expect(await namespaces("tenant-a")).toEqual(["x"]);
            expect(await namespaces("tenant-b")).toEqual(["short-a"]);
            expect(await namespaces("")).toEqual(["short-a"]);
          });
        },
        Math.max(t, 60_000),
      );

      test(
        "a rule of 0 keeps a namespace forever while the default expires the others",
        async () => {
          await withRetention(3600, "forever=0", async (store) => {
            const now = nowNs();
            const DAY = 24n * HOUR;
            await store.write([
              entry({ namespace: "forever", timeNs: now - 400n * DAY, log: "forever, 400d old" }),
              entry({ namespace: "forever", timeNs: now - 2n * HOUR, log: "forever, 2h old" }),
              entry({ namespace: "default", timeNs: now - 2n * HOUR, log: "default, 2h old" }),
              entry({ namespace: "default", timeNs: now - 10n * MINUTE, log: "default, 10m old" }),
            ]);
            const [from, to] = [now - 500n * DAY, now + MINUTE];
            expect(await logsOf(store, "", "forever", from, to)).toEqual(["forever, 400d old", "forever, 2h old"]);
            expect(await logsOf(store, "", "default", from, to)).toEqual(["default, 10m old"]);
            const streams = listed(await store.streams("", from, to));
            expect(Object.keys(streams).sort()).toEqual(["default", "forever"]);
            expect(streams.forever!.firstNs).toBe(now - 400n * DAY);
            expect(streams.default!.firstNs).toBeGreaterThanOrEqual(now - HOUR);
            expect((await store.streams("", now - 401n * DAY, now - 399n * DAY)).map((s) => s.namespace)).toEqual(["forever"]);
          });
        },
        Math.max(t, 60_000),
      );
    });

    describe("chunks and their compaction", () => {
      // 3,000 lines over 20 minutes (4 windows), two to a nanosecond, of two streams and levels,
      // sent in batches of 100, resent byte-identical and cut differently before and after the
      // windows are compacted.
      const n = unique();
      const base = ns("2024-03-01T10:00:00Z");
      const lines = Array.from({ length: 3000 }, (_, i) =>
        entry({
          namespace: n,
          timeNs: base + BigInt(Math.floor(i / 2)) * 800_000_000n,
          log: `${i % 3 ? "GET" : "POST"} /items/${(i * 7919) % 1009} took=${i % 97}ms ${"é".repeat(i % 2)}`,
          stream: i % 5 ? "stdout" : "stderr",
          level: i % 7 ? "info" : "error",
        }),
      );
      const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
      /** The rows of a read, at most `limit` of them (the read is left there, as a limited query leaves it). */
      const all = async (over: Partial<StreamRead> = {}, limit = Number.POSITIVE_INFINITY) => {
        const out: OrderedRow[] = [];
        const range: StreamRead = { startNs: base - 1n, endNs: base + 3_600n * NS_PER_SECOND, direction: "forward", ...over };
        for await (const page of store.read(ref, range)) {
          out.push(...page);
          if (out.length >= limit) break;
        }
        return out.slice(0, limit);
      };

      test(
        "every line once, in order, whatever the resends, before and after compaction; the counts unchanged",
        async () => {
          expect(typeof store.compactNow).toBe("function");
          for (let i = 0; i < 3000; i += 100) await store.write(lines.slice(i, i + 100));
          await store.write(lines.slice(1000, 1100)); // byte-identical
          for (let i = 30; i < 3000; i += 370) await store.write(lines.slice(i, i + 370)); // cut differently
          const expected = lines.map((e) => e.log);
          const before = await all();
          expect(before.map((r) => r.log)).toEqual(expected);
          const backward = await all({ direction: "backward" });
          expect(backward).toEqual([...before].reverse());
          await store.compactNow!();
          expect(await all()).toEqual(before);
          expect(await all({ direction: "backward" })).toEqual(backward);
          // Resent after compaction, whole and cut differently: still once each.
          await store.write(lines.slice(2000, 2100));
          await store.write(lines.slice(1950, 2450));
          expect(await all()).toEqual(before);
          await store.compactNow!();
          expect(await all()).toEqual(before);
          // Counts are kept at write time: compaction does not touch them.
          if (store.countsDeduplicated)
            expect(await countsOf(store, ref, base - MINUTE_NS, base + 3_600n * NS_PER_SECOND)).toEqual(expectedCounts(lines));
        },
        Math.max(t, 60_000),
      );

      test(
        "after compaction: ranges cut exactly, cursors page exactly, filters find what a line-by-line test finds",
        async () => {
          const from = base + 300n * NS_PER_SECOND - 800_000_000n; // across a window's border
          const to = base + 601n * NS_PER_SECOND;
          const inRange = lines.filter((e) => e.timeNs >= from && e.timeNs <= to).map((e) => e.log);
          expect((await all({ startNs: from, endNs: to })).map((r) => r.log)).toEqual(inRange);
          for (const direction of ["forward", "backward"] as const) {
            const whole = await all({ direction });
            const paged: OrderedRow[] = [];
            let after: OrderedRow | undefined;
            for (let guard = 0; guard < 50; guard++) {
              const page = await all({ direction, after, limitHint: 293 }, 293);
              if (page.length === 0) break;
              paged.push(...page);
              after = page.at(-1);
            }
            expect(paged).toEqual(whole);
            const filtered = await all({ direction, contains: ["took=42ms"] });
            expect(filtered).toEqual(whole.filter((r) => r.log.includes("took=42ms")));
            expect(filtered.length).toBeGreaterThan(20);
          }
        },
        Math.max(t, 60_000),
      );
    });

    test(
      "a read under way while compaction merges the chunks it listed gives every line once, in order",
      async () => {
        const base = ns("2024-03-02T10:00:00Z");
        for (const direction of ["forward", "backward"] as const) {
          const n = unique();
          // 300 small chunks in one window: one per two-line batch.
          const lines = Array.from({ length: 600 }, (_, i) =>
            entry({ namespace: n, timeNs: base + BigInt(i) * 100_000_000n, log: `line ${i}` }),
          );
          const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
          for (let i = 0; i < lines.length; i += 2) await store.write(lines.slice(i, i + 2));
          const rows: OrderedRow[] = [];
          let compacted = false;
          for await (const page of store.read(ref, {
            startNs: base,
            endNs: base + 3_600n * NS_PER_SECOND,
            direction,
            limitHint: 16,
          })) {
            rows.push(...page);
            if (!compacted) {
              // The read has listed (and loaded some of) the small chunks: they are merged away now.
              await store.compactNow!();
              compacted = true;
            }
          }
          const expected = lines.map((e) => e.log);
          expect(rows.map((r) => r.log)).toEqual(direction === "forward" ? expected : expected.reverse());
        }
      },
      Math.max(t, 60_000),
    );

    test(
      "after close: unhealthy, and writes are refused as unavailable (retryable)",
      async () => {
        const own = await open();
        await own.close();
        const health = await own.health();
        expect(health.healthy).toBe(false);
        expect(health.detail).not.toBe("");
        const n = unique();
        await expect(own.write([entry({ namespace: n, timeNs: ns("2024-03-01T10:00:00Z") })])).rejects.toBeInstanceOf(
          StoreUnavailableError,
        );
      },
      Math.max(t, 60_000),
    );
  });
}
