// What exists, from the store's index of streams: namespaces, the pods of a namespace with their
// containers, label names and the values of one label. First and last times are those of the
// streams' days that overlap the range (the index keeps them per day).
import type { LogStore, StreamInfo } from "../store/store.ts";
import { labelValue, STREAM_LABELS, streamPredicate, type Matcher } from "./selector.ts";

export interface Seen {
  firstNs: bigint;
  lastNs: bigint;
}

export interface NamespaceInfo extends Seen {
  name: string;
}

export interface PodInfo extends Seen {
  name: string;
  labels: Record<string, string>;
  host: string;
  containers: (Seen & { name: string })[];
}

function widen(into: Seen, s: Seen): void {
  if (s.firstNs < into.firstNs) into.firstNs = s.firstNs;
  if (s.lastNs > into.lastNs) into.lastNs = s.lastNs;
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function matching(
  store: LogStore,
  tenant: string,
  startNs: bigint,
  endNs: bigint,
  selector: Matcher[] = [],
): Promise<StreamInfo[]> {
  const streams = await store.streams(tenant, startNs, endNs);
  return selector.length === 0 ? streams : streams.filter(streamPredicate(selector));
}

export async function namespaces(store: LogStore, tenant: string, startNs: bigint, endNs: bigint): Promise<NamespaceInfo[]> {
  const found = new Map<string, NamespaceInfo>();
  for (const s of await store.streams(tenant, startNs, endNs)) {
    const known = found.get(s.namespace);
    if (known) widen(known, s);
    else found.set(s.namespace, { name: s.namespace, firstNs: s.firstNs, lastNs: s.lastNs });
  }
  return [...found.values()].sort(byName);
}

export async function pods(
  store: LogStore,
  tenant: string,
  namespace: string,
  startNs: bigint,
  endNs: bigint,
): Promise<PodInfo[]> {
  const found = new Map<string, PodInfo>();
  for (const s of await store.streams(tenant, startNs, endNs)) {
    if (s.namespace !== namespace) continue;
    let pod = found.get(s.pod);
    if (pod === undefined) {
      pod = { name: s.pod, firstNs: s.firstNs, lastNs: s.lastNs, labels: s.labels, host: s.host, containers: [] };
      found.set(s.pod, pod);
    } else {
      // Labels and node of the pod's latest line.
      if (s.lastNs > pod.lastNs) {
        pod.labels = s.labels;
        pod.host = s.host;
      }
      widen(pod, s);
    }
    pod.containers.push({ name: s.container, firstNs: s.firstNs, lastNs: s.lastNs });
  }
  for (const pod of found.values()) pod.containers.sort(byName);
  return [...found.values()].sort(byName);
}

/** Label names of the streams a selector picks: the stream labels and the pods' labels. */
export async function labelNames(
  store: LogStore,
  tenant: string,
  startNs: bigint,
  endNs: bigint,
  selector?: Matcher[],
): Promise<string[]> {
  const streams = await matching(store, tenant, startNs, endNs, selector);
  const names = new Set<string>();
  for (const s of streams) {
    for (const name of STREAM_LABELS) if (labelValue(s, name) !== "") names.add(name);
    for (const name of Object.keys(s.labels)) names.add(name);
  }
  return [...names].sort();
}

export async function labelValues(
  store: LogStore,
  tenant: string,
  name: string,
  startNs: bigint,
  endNs: bigint,
  selector?: Matcher[],
): Promise<string[]> {
  const streams = await matching(store, tenant, startNs, endNs, selector);
  const values = new Set<string>();
  for (const s of streams) {
    const v = labelValue(s, name);
    if (v !== "") values.add(v);
  }
  return [...values].sort();
}
