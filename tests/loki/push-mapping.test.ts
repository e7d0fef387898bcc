// The Loki push mapping on its own: labels → Kubernetes identity, structured metadata → ids and
// metadata, Prometheus label text, and the judging of entries (src/loki/push.ts).
import { describe, expect, test } from "bun:test";
import {
  canonicalLabels,
  checkLabels,
  judge,
  kubernetesIdentity,
  LabelProblem,
  metadataIdentity,
  parseLabelSet,
  readJson,
  readProtobuf,
} from "../../src/loki/push.ts";
import { encodePushRequest } from "../../src/loki/push.proto.ts";
import { IngestError } from "../../src/ingest/decode.ts";
import { RetentionPolicy } from "../../src/store/retention.ts";

describe("kubernetesIdentity", () => {
  test("Alloy and Promtail: namespace, pod, container; node_name and stream taken out, the rest kept", () => {
    expect(
      kubernetesIdentity({
        namespace: "shop",
        pod: "web-1",
        container: "nginx",
        node_name: "worker1",
        stream: "stderr",
        app: "web",
        job: "shop/web",
      }),
    ).toEqual({
      namespace: "shop",
      pod: "web-1",
      container: "nginx",
      host: "worker1",
      stream: "stderr",
      labels: { app: "web", job: "shop/web" },
    });
  });

  test("Fluent Bit: namespace_name, pod_name, container_name, host", () => {
    expect(
      kubernetesIdentity({
        job: "fluent-bit",
        namespace_name: "payments",
        pod_name: "api-7d9c8b-xk2lp",
        container_name: "api",
        host: "worker2",
        tier: "backend",
      }),
    ).toEqual({
      namespace: "payments",
      pod: "api-7d9c8b-xk2lp",
      container: "api",
      host: "worker2",
      stream: "",
      labels: { job: "fluent-bit", tier: "backend" },
    });
  });

  test("OpenTelemetry: k8s_namespace_name, k8s_pod_name, k8s_container_name, k8s_node_name", () => {
    expect(
      kubernetesIdentity({
        k8s_namespace_name: "default",
        k8s_pod_name: "otel-1",
        k8s_container_name: "app",
        k8s_node_name: "node-3",
        service_name: "checkout",
      }),
    ).toEqual({
      namespace: "default",
      pod: "otel-1",
      container: "app",
      host: "node-3",
      stream: "",
      labels: { service_name: "checkout" },
    });
  });

  test("conventions mixed: the first name wins; another name with the same value goes, a differing one stays", () => {
    const id = kubernetesIdentity({
      namespace: "a",
      namespace_name: "a",
      k8s_namespace_name: "b",
      pod_name: "p",
      k8s_container_name: "c",
      hostname: "h",
    });
    expect(id).toEqual({
      namespace: "a",
      pod: "p",
      container: "c",
      host: "h",
      stream: "",
      labels: { k8s_namespace_name: "b" },
    });
  });

  test("a stream label other than stdout/stderr stays a label", () => {
    const id = kubernetesIdentity({ namespace: "a", pod: "p", container: "c", stream: "audit" });
    expect(id).toMatchObject({ stream: "", labels: { stream: "audit" } });
  });

  test("without all three Kubernetes names: namespace and pod empty, the canonical label set as container, every label kept", () => {
    const labels = { job: "systemd", unit: "kubelet.service", host: "node-1", namespace: "half" };
    expect(kubernetesIdentity(labels)).toEqual({
      namespace: "",
      pod: "",
      container: '{host="node-1",job="systemd",namespace="half",unit="kubelet.service"}',
      host: "node-1",
      stream: "",
      labels,
    });
  });

  test("Kubernetes names with control characters or longer than 253 characters refuse the stream", () => {
    expect(kubernetesIdentity({ namespace: "a\u0001b", pod: "p", container: "c" })).toBeInstanceOf(LabelProblem);
    expect(kubernetesIdentity({ namespace: "a", pod: "p".repeat(254), container: "c" })).toBeInstanceOf(LabelProblem);
  });

  test("a label named problem or __proto__ is just a label", () => {
    const labels = JSON.parse('{"namespace":"a","pod":"p","container":"c","problem":"x","__proto__":"y"}');
    const id = kubernetesIdentity(labels);
    expect(id).not.toBeInstanceOf(LabelProblem);
    expect(Object.entries((id as { labels: object }).labels)).toEqual([
      ["problem", "x"],
      ["__proto__", "y"],
    ]);
  });
});

describe("metadataIdentity", () => {
  test("pod uid and container id become podId and dockerId; the rest is metadata", () => {
    expect(metadataIdentity({ pod_uid: "u-1", container_id: "c-1", trace_id: "t" })).toEqual({
      podId: "u-1",
      dockerId: "c-1",
      metadata: { trace_id: "t" },
    });
    expect(metadataIdentity({ k8s_pod_uid: "u-2", k8s_container_id: "c-2" })).toEqual({ podId: "u-2", dockerId: "c-2" });
    expect(metadataIdentity({ pod_id: "u-3", docker_id: "c-3" })).toEqual({ podId: "u-3", dockerId: "c-3" });
    expect(metadataIdentity({ trace_id: "t" })).toEqual({ podId: "", dockerId: "", metadata: { trace_id: "t" } });
    expect(metadataIdentity(undefined)).toEqual({ podId: "", dockerId: "" });
    expect(metadataIdentity({})).toEqual({ podId: "", dockerId: "" });
  });
});

describe("labels", () => {
  test("canonicalLabels sorts names and quotes values, escaping what needs it", () => {
    expect(canonicalLabels({ b: "2", a: 'say "hi"\n\\', c: "\u0001" })).toBe('{a="say \\"hi\\"\\n\\\\",b="2",c="\\x01"}');
    expect(canonicalLabels({ b: "x", a: "y" })).toBe(canonicalLabels({ a: "y", b: "x" }));
  });

  test("parseLabelSet reads Prometheus' text form, as Alloy and Promtail send it", () => {
    expect(parseLabelSet('{app="web", namespace="default"}')).toEqual({ app: "web", namespace: "default" });
    expect(parseLabelSet("{}")).toEqual({});
    expect(parseLabelSet(' { a = "1" , b="2", } ')).toEqual({ a: "1", b: "2" });
    expect(parseLabelSet('{a="q\\"uote\\\\ \\n \\t \\u00e9 \\x41 \\101 caf\u00e9 🚀"}')).toEqual({
      a: 'q"uote\\ \n \t é A A café 🚀',
    });
    expect(parseLabelSet("{a='single', b=`raw\\n`}")).toEqual({ a: "single", b: "raw\\n" });
    expect(parseLabelSet('{"quoted.name"="v"}')).toEqual({ "quoted.name": "v" });
    // The canonical form reads back.
    const labels = { a: 'x"y\\z\n', b: "\u0007\u0001" };
    expect(parseLabelSet(canonicalLabels(labels))).toEqual(labels);
  });

  test("parseLabelSet refuses what is not a label set, naming the problem", () => {
    for (const [text, problem] of [
      ["app=web", 'expected "{"'],
      ['{app="web"', 'expected "," or "}"'],
      ["{app=web}", "expected a quoted value"],
      ['{app=~"web"}', 'expected "="'],
      ['{a="1", a="2"}', "appears twice"],
      ['{a="1"} x', "unexpected text"],
      ['{a="\\q"}', "unknown escape"],
      ['{a="open}', "unterminated"],
    ] as const) {
      expect(() => parseLabelSet(text)).toThrow(problem);
    }
  });

  test("checkLabels: Prometheus names, Loki's lengths, empty values dropped, at least one label", () => {
    expect(checkLabels({ a: "1", b: "" })).toEqual({ a: "1" });
    expect(checkLabels({ "a.b": "1" })).toBeInstanceOf(LabelProblem);
    expect(checkLabels({ "1a": "1" })).toBeInstanceOf(LabelProblem);
    expect(checkLabels({ a: "x".repeat(2049) })).toBeInstanceOf(LabelProblem);
    expect(checkLabels({})).toBeInstanceOf(LabelProblem);
    expect(checkLabels({ a: "" })).toBeInstanceOf(LabelProblem);
  });
});

describe("bodies", () => {
  const options = { tenant: "", maxLineSize: 100, nowNs: 1_800_000_000_000_000_000n };

  test("JSON: values with and without structured metadata; entries numbered across streams", () => {
    const body = JSON.stringify({
      streams: [
        {
          stream: { namespace: "a", pod: "p", container: "c" },
          values: [
            ["1", "one"],
            ["2", "two", { trace_id: "t", n: 5 }],
          ],
        },
        { stream: { job: "x" }, values: [["3", "three"]] },
      ],
    });
    const { entries, rejections } = judge(readJson(new TextEncoder().encode(body)), options);
    expect(rejections).toEqual([]);
    expect(entries.map((e) => [e.namespace, e.pod, e.container, e.timeNs, e.log, e.metadata])).toEqual([
      ["a", "p", "c", 1n, "one", undefined],
      ["a", "p", "c", 2n, "two", { trace_id: "t", n: "5" }],
      ["", "", '{job="x"}', 3n, "three", undefined],
    ]);
  });

  test("JSON: a bad stream or entry is refused on its own, by reason", () => {
    const body = JSON.stringify({
      streams: [
        {
          stream: { job: "ok" },
          values: [
            ["1", "good"],
            [1, "number ts"],
            ["x1", "bad ts"],
            ["2", 5],
            ["3", "long".repeat(30)],
          ],
        },
        {
          stream: { "bad-name": "v" },
          values: [
            ["1", "a"],
            ["2", "b"],
          ],
        },
        { stream: { job: "ok" }, values: "nope" },
        "not a stream",
        {
          stream: { job: "ok" },
          values: [
            ["4", "good too", "not metadata"],
            ["5", "fine"],
          ],
        },
      ],
    });
    const { entries, rejections } = judge(readJson(new TextEncoder().encode(body)), options);
    expect(entries.map((e) => e.log)).toEqual(["good", "fine"]);
    expect(rejections.map((r) => [r.index, r.reason])).toEqual([
      [1, "invalid_timestamp"],
      [2, "invalid_timestamp"],
      [3, "invalid_field"],
      [4, "line_too_long"],
      [5, "invalid_labels"],
      [6, "invalid_labels"],
      [7, "invalid_field"],
      [8, "invalid_labels"],
      [9, "invalid_field"],
    ]);
    expect(rejections[4]!.detail).toContain('label name "bad-name" is not valid');
    expect(rejections[3]!.detail).toContain('stream {job="ok"}, entry 4');
  });

  test("JSON that is not a push request is a 400 naming the problem", () => {
    const read = (text: string) => () => readJson(new TextEncoder().encode(text));
    expect(read("{nope")).toThrow("body is not valid JSON");
    expect(read("[]")).toThrow("body is not a Loki push request");
    expect(read('{"streams":{}}')).toThrow("body is not a Loki push request");
    let error: unknown;
    try {
      read('{"stream":[]}')();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IngestError);
    expect((error as IngestError).status).toBe(400);
    expect((error as IngestError).detail).toContain('"streams" is missing');
  });

  test("protobuf: labels as text, timestamps, structured metadata; unreadable labels refuse their stream", () => {
    const body = encodePushRequest({
      streams: [
        {
          labels: '{namespace="a", pod="p", container="c"}',
          entries: [
            {
              timestamp: { seconds: 1777809897n, nanos: 94408152 },
              line: "hello",
              structuredMetadata: [
                { name: "pod_uid", value: "u" },
                { name: "trace_id", value: "t" },
              ],
            },
            { line: "no time" },
          ],
        },
        { labels: "{broken", entries: [{ timestamp: { seconds: 1n, nanos: 0 }, line: "x" }] },
      ],
    });
    const { entries, rejections } = judge(readProtobuf(body), options);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      namespace: "a",
      pod: "p",
      container: "c",
      timeNs: 1777809897094408152n,
      log: "hello",
      podId: "u",
      metadata: { trace_id: "t" },
    });
    expect(rejections.map((r) => [r.index, r.reason])).toEqual([
      [1, "missing_timestamp"],
      [2, "invalid_labels"],
    ]);
    expect(() => readProtobuf(new Uint8Array([0x0a, 0xff]))).toThrow("body is not a protobuf PushRequest");
  });

  test("retention: lines older than their namespace's are refused", () => {
    const now = 1_800_000_000_000_000_000n;
    const retention = new RetentionPolicy(86_400, [{ namespace: "long", seconds: 30 * 86_400, text: "long=30d" }]);
    const twoDaysAgo = String(now - 2n * 86_400n * 1_000_000_000n);
    const body = JSON.stringify({
      streams: [
        { stream: { namespace: "short", pod: "p", container: "c" }, values: [[twoDaysAgo, "old"]] },
        { stream: { job: "x" }, values: [[String(now), "new"]] },
      ],
    });
    const { entries, rejections } = judge(readJson(new TextEncoder().encode(body)), { ...options, nowNs: now, retention });
    expect(entries.map((e) => e.log)).toEqual(["new"]);
    expect(rejections.map((r) => r.reason)).toEqual(["older_than_retention"]);
  });
});
