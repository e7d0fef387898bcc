// How stored lines look through Loki's API: the labels of a stream and of a line, the structured
// metadata of a line, and Loki's label names mapped back to the engine's.
import { sanitizeLabelName, type Matcher } from "../query/selector.ts";
import type { StreamInfo } from "../store/store.ts";

/** Structured metadata names of a line's pod uid and container id. */
export const POD_UID = "pod_uid";
export const CONTAINER_ID = "container_id";

/** Labels Loki shows that are the stream's own, not the pod's. */
const RESERVED = new Set(["namespace", "pod", "container", "node_name", "stream"]);

/**
 * Whether a stream was pushed without Kubernetes labels: it is kept under namespace "" and pod ""
 * with its canonical label set as container name (see src/loki/push.ts), and Loki shows only its
 * labels.
 */
export function isLabelOnlyStream(s: Pick<StreamInfo, "namespace" | "pod" | "container">): boolean {
  return s.namespace === "" && s.pod === "" && s.container.startsWith("{");
}

const viewCache = new WeakMap<StreamInfo, Record<string, string>>();

/**
 * A stream's labels as Loki sees them: namespace, pod, container, node_name (the host) and the
 * pod's labels under sanitised names (a pod label that would collide with one of those is left
 * out). Without `stream`, which is a line's. Cached per StreamInfo object.
 */
export function streamLabels(s: StreamInfo): Record<string, string> {
  const cached = viewCache.get(s);
  if (cached !== undefined) return cached;
  const view: Record<string, string> = {};
  if (!isLabelOnlyStream(s)) {
    if (s.namespace !== "") view.namespace = s.namespace;
    if (s.pod !== "") view.pod = s.pod;
    if (s.container !== "") view.container = s.container;
  }
  if (s.host !== "") view.node_name = s.host;
  for (const key of Object.keys(s.labels).sort()) {
    const name = sanitizeLabelName(key);
    const value = s.labels[key]!;
    if (value === "" || RESERVED.has(name) || Object.hasOwn(view, name)) continue;
    view[name] = value;
  }
  viewCache.set(s, view);
  return view;
}

/** A line's labels: its stream's and `stream` (stdout/stderr) when the runtime said. */
export function lineLabels(s: StreamInfo, stream: string): Record<string, string> {
  const base = streamLabels(s);
  return stream === "" ? base : { ...base, stream };
}

/** Structured metadata of a line: pod uid, container id, and what the push carried. */
export function lineMetadata(row: {
  podId?: string;
  dockerId?: string;
  metadata?: Record<string, string>;
}): Record<string, string> | undefined {
  if (row.podId === undefined && row.dockerId === undefined && row.metadata === undefined) return undefined;
  const out: Record<string, string> = {};
  if (row.podId) out[POD_UID] = row.podId;
  if (row.dockerId) out[CONTAINER_ID] = row.dockerId;
  if (row.metadata) for (const k in row.metadata) out[k] = row.metadata[k]!;
  return out;
}

/**
 * Loki matchers as the engine's: the engine's labelValue already knows node_name and sanitised
 * pod label names, so the matchers pass as they are.
 */
export function engineMatchers(matchers: readonly Matcher[]): Matcher[] {
  return matchers.map((m) => ({ name: m.name, op: m.op, value: m.value }));
}

/** A label set's canonical text, `{a="b", c="d"}` sorted by name, as Loki prints one. */
export function labelsText(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  return `{${names.map((n) => `${n}=${JSON.stringify(labels[n])}`).join(", ")}}`;
}
