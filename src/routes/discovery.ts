// Discovery: what exists in a time range (default: the last 24 hours), from the store's index of
// streams: namespaces, the pods of a namespace with their containers, label names and values.
import { Elysia, t } from "elysia";
import { labelNames, labelValues, namespaces, pods, type Seen } from "../query/discovery.ts";
import { parseSelector, SelectorError, type Matcher } from "../query/selector.ts";
import type { LogStore } from "../store/store.ts";
import { formatRfc3339Nano, nowNs } from "../time.ts";
import type { AccessControl } from "../access/access.ts";
import { ErrorBody, InvalidQueryError } from "./http.ts";
import { parseRange, RangeParams, rejectRepeated } from "./selection.ts";

const DAY_NS = 86_400_000_000_000n;

const SeenFields = {
  first_seen: t.String({ description: "Time of the first line (RFC 3339; to the day: of the range's days)." }),
  last_seen: t.String({ description: "Time of the last line." }),
};

const seen = (s: Seen) => ({ first_seen: formatRfc3339Nano(s.firstNs), last_seen: formatRfc3339Nano(s.lastNs) });

const RangeQuery = t.Object(RangeParams);
const SelectorQuery = t.Object({
  ...RangeParams,
  selector: t.Optional(t.String({ description: "Only streams this label selector picks (as /query's)." })),
});

function rangeOf(params: typeof RangeQuery.static, request: Request, access: AccessControl, tenant: string) {
  rejectRepeated(request, ["start_time", "end_time", "since", "selector"]);
  const range = parseRange(params, nowNs(), { defaultSinceNs: DAY_NS });
  access.checkRange(tenant, range.startNs, range.endNs);
  return range;
}

function selectorOf(text: string | undefined): Matcher[] | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    return parseSelector(text);
  } catch (error) {
    if (error instanceof SelectorError) throw new InvalidQueryError(`selector: ${error.message}`);
    throw error;
  }
}

const tags = ["discovery"];

export function discoveryRoutes(store: LogStore, access: AccessControl) {
  return new Elysia({ name: "routes.discovery" })
    .use(access.plugin())
    .get(
      "/namespaces",
      async ({ query, request, identity: { tenant } }) => {
        const { startNs, endNs } = rangeOf(query, request, access, tenant);
        return {
          namespaces: (await namespaces(store, tenant, startNs, endNs)).map((n) => ({ name: n.name, ...seen(n) })),
        };
      },
      {
        access: "read",
        query: RangeQuery,
        detail: { summary: "Namespaces with lines in a range (default: the last 24 hours)", tags },
        response: {
          200: t.Object({ namespaces: t.Array(t.Object({ name: t.String(), ...SeenFields })) }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    )
    .get(
      "/namespaces/:namespace/pods",
      async ({ params, query, request, identity: { tenant } }) => {
        const { startNs, endNs } = rangeOf(query, request, access, tenant);
        const found = await pods(store, tenant, params.namespace, startNs, endNs);
        return {
          pods: found.map((p) => ({
            name: p.name,
            ...seen(p),
            labels: p.labels,
            host: p.host,
            containers: p.containers.map((c) => ({ name: c.name, ...seen(c) })),
          })),
        };
      },
      {
        access: "read",
        params: t.Object({ namespace: t.String() }),
        query: RangeQuery,
        detail: { summary: "Pods of a namespace, with their containers, labels and node", tags },
        response: {
          200: t.Object({
            pods: t.Array(
              t.Object({
                name: t.String(),
                ...SeenFields,
                labels: t.Record(t.String(), t.String(), { description: "The pod's labels, from its latest line." }),
                host: t.String({ description: "The node of its latest line." }),
                containers: t.Array(t.Object({ name: t.String(), ...SeenFields })),
              }),
            ),
          }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    )
    .get(
      "/labels",
      async ({ query, request, identity: { tenant } }) => {
        const { startNs, endNs } = rangeOf(query, request, access, tenant);
        return { labels: await labelNames(store, tenant, startNs, endNs, selectorOf(query.selector)) };
      },
      {
        access: "read",
        query: SelectorQuery,
        detail: {
          summary: "Label names of the streams in a range",
          description: "namespace, pod, container and host, and the pods' own labels. (stream is a line's: stdout or stderr.)",
          tags,
        },
        response: {
          200: t.Object({ labels: t.Array(t.String()) }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    )
    .get(
      "/labels/:name/values",
      async ({ params, query, request, identity: { tenant } }) => {
        const { startNs, endNs } = rangeOf(query, request, access, tenant);
        return { values: await labelValues(store, tenant, params.name, startNs, endNs, selectorOf(query.selector)) };
      },
      {
        access: "read",
        params: t.Object({ name: t.String() }),
        query: SelectorQuery,
        detail: { summary: "Values of one label in a range, optionally under a selector", tags },
        response: {
          200: t.Object({ values: t.Array(t.String()) }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    );
}
