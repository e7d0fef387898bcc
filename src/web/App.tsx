// The explorer: pickers and range on top, the volume histogram, the lines, a line's details.
// State lives in the URL (state.ts); rows are kept outside Preact's state (a ref and a version
// number), since a view may hold 100k of them.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  ApiError,
  clearCredentials,
  followTail,
  getJson,
  loadCredentials,
  onCredentialsNeeded,
  saveCredentials,
  type Credentials,
  type PodInfo,
  type QueryAnswer,
  type Row,
  type Volume,
} from "./api.ts";
import { AuthDialog } from "./components/AuthDialog.tsx";
import { Combobox } from "./components/Combobox.tsx";
import { Details } from "./components/Details.tsx";
import { Histogram } from "./components/Histogram.tsx";
import { LogView } from "./components/LogView.tsx";
import {
  absolute,
  filterParams,
  hasSelection,
  parseState,
  queryKey,
  resolveRange,
  selectionParams,
  stateToSearch,
  type ViewState,
} from "./state.ts";
import { durationMs, formatNs, parseNs, PRESETS } from "./time.ts";

const FIRST_PAGE = 1000;
const NEXT_PAGE = 5000;
const DAY_MS = 86_400_000;

interface Rows {
  paged: Row[];
  live: Row[];
  cursor: string | undefined;
  loading: boolean;
  range: { startNs: bigint; endNs: bigint } | undefined;
  generation: number;
  controller: AbortController | undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

const isTyping = (t: EventTarget | null) =>
  t instanceof HTMLElement &&
  (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);

export function App() {
  const [state, setState] = useState<ViewState>(() => parseState(location.search));
  const pushNext = useRef(false);
  const update = (patch: Partial<ViewState>, push = false) => {
    pushNext.current ||= push;
    setState((s) => ({ ...s, ...patch }));
  };
  useEffect(() => {
    const search = `?${stateToSearch(state)}`;
    if (search !== location.search) history[pushNext.current ? "pushState" : "replaceState"](null, "", search);
    pushNext.current = false;
  }, [state]);
  useEffect(() => {
    const back = () => setState(parseState(location.search));
    addEventListener("popstate", back);
    return () => removeEventListener("popstate", back);
  }, []);

  // Theme: the user's choice, else the system's.
  const [theme, setTheme] = useState(
    () =>
      localStorage.getItem("kube-insight-logserver.theme") ??
      (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"),
  );
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("kube-insight-logserver.theme", theme);
  }, [theme]);

  // Credentials: asked for when the API says so.
  const [authProblem, setAuthProblem] = useState<ApiError | undefined>();
  const authDone = useRef<(() => void) | undefined>(undefined);
  const [signedIn, setSignedIn] = useState(() => loadCredentials().kind !== "none" || !!loadCredentials().tenant);
  useEffect(
    () =>
      onCredentialsNeeded(
        (problem) =>
          new Promise<void>((resolve) => {
            setAuthProblem(problem);
            authDone.current = resolve;
          }),
      ),
    [],
  );
  const signIn = (c: Credentials) => {
    saveCredentials(c);
    setSignedIn(true);
    setAuthProblem(undefined);
    authDone.current?.();
  };

  // Discovery: namespaces and the namespace's pods, over the range (at least the last day).
  const [namespaces, setNamespaces] = useState<string[]>([]);
  const [pods, setPods] = useState<PodInfo[]>([]);
  const [labelNames, setLabelNames] = useState<string[]>([]);
  const discoveryParams = () => {
    const p = new URLSearchParams();
    if (state.from) {
      p.set("start_time", state.from);
      if (state.to) p.set("end_time", state.to);
    } else p.set("since", (durationMs(state.since) ?? 0) > DAY_MS ? state.since : "24h");
    return p;
  };
  const rangeKey = `${state.since}|${state.from}|${state.to}`;
  useEffect(() => {
    getJson<{ namespaces: { name: string }[] }>("/namespaces", discoveryParams())
      .then((a) => setNamespaces(a.namespaces.map((n) => n.name)))
      .catch(() => setNamespaces([]));
    if (state.mode === "selector") {
      getJson<{ labels: string[] }>("/labels", discoveryParams())
        .then((a) => setLabelNames(a.labels))
        .catch(() => setLabelNames([]));
    }
  }, [rangeKey, state.mode, signedIn]);
  useEffect(() => {
    if (state.namespace === "") return setPods([]);
    getJson<{ pods: PodInfo[] }>(`/namespaces/${encodeURIComponent(state.namespace)}/pods`, discoveryParams())
      .then((a) => setPods(a.pods))
      .catch(() => setPods([]));
  }, [state.namespace, rangeKey, signedIn]);
  const containers = pods.find((p) => p.name === state.pod)?.containers.map((c) => c.name) ?? [];

  // The rows: pages through /query's cursor, plus lines followed live.
  const data = useRef<Rows>({
    paged: [],
    live: [],
    cursor: undefined,
    loading: false,
    range: undefined,
    generation: 0,
    controller: undefined,
  });
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);
  const [error, setError] = useState<ApiError | string | undefined>();
  const [volume, setVolume] = useState<Volume | undefined>();
  const [volumeError, setVolumeError] = useState<string | undefined>();
  const [reloads, setReloads] = useState(0);
  const [topAdded, setTopAdded] = useState(0);
  const [scrollTo, setScrollTo] = useState<{ index: number; seq: number } | undefined>();
  const [selected, setSelected] = useState<Row | undefined>();
  const firstRowsMarked = useRef(false);
  const [followStatus, setFollowStatus] = useState<"off" | "connecting" | "live" | "reconnecting">("off");
  const [pending, setPending] = useState(0);
  const atEdge = useRef(true);
  const [paused, setPaused] = useState(false);
  const key = queryKey(state);
  const pinned = state.mode === "pod" && state.pod !== "" && state.container !== "";

  const withSource = (rows: Row[]) => {
    if (!pinned) return rows;
    for (const r of rows) {
      r.namespace = state.namespace;
      r.pod_name = state.pod;
      r.container_name = state.container;
    }
    return rows;
  };

  const loadPage = async (first: boolean) => {
    const d = data.current;
    if (d.loading || d.range === undefined || (!first && d.cursor === undefined)) return;
    const generation = d.generation;
    d.loading = true;
    bump();
    const params = filterParams(state, selectionParams(state));
    params.set("start_time", formatNs(d.range.startNs));
    params.set("end_time", formatNs(d.range.endNs));
    params.set("direction", state.order === "newest" ? "backward" : "forward");
    params.set("limit", String(first ? FIRST_PAGE : NEXT_PAGE));
    if (!first) params.set("cursor", d.cursor!);
    try {
      const answer = await getJson<QueryAnswer>("/query", params, d.controller?.signal);
      if (generation !== d.generation) return;
      const rows = withSource(answer.log_rows);
      for (const r of rows) d.paged.push(r);
      d.cursor = answer.next_cursor;
      if (first && state.at !== "") {
        const index = d.paged.findIndex((r) => r.time === state.at);
        if (index >= 0) setScrollTo({ index: index + (state.order === "newest" ? d.live.length : 0), seq: Date.now() });
      }
    } catch (e) {
      if (generation !== d.generation) return;
      setError(e instanceof ApiError ? e : String(e));
    } finally {
      if (generation === d.generation) {
        d.loading = false;
        bump();
      }
    }
  };

  useEffect(() => {
    const d = data.current;
    d.controller?.abort();
    d.generation++;
    d.controller = new AbortController();
    d.paged = [];
    d.live = [];
    d.cursor = undefined;
    d.loading = false;
    d.range = undefined;
    setError(undefined);
    setSelected(undefined);
    setVolume(undefined);
    setVolumeError(undefined);
    setPending(0);
    bump();
    if (!hasSelection(state)) return;
    const range = resolveRange(state);
    if ("error" in range) return setError(range.error);
    d.range = range;
    void loadPage(true);
    const params = selectionParams(state);
    params.set("start_time", formatNs(range.startNs));
    params.set("end_time", formatNs(range.endNs));
    const generation = d.generation;
    getJson<Volume>("/volume", params, d.controller.signal)
      .then((v) => generation === d.generation && setVolume(v))
      .catch(
        (e) => generation === d.generation && setVolumeError(e instanceof ApiError ? `${e.message}: ${e.detail}` : String(e)),
      );
  }, [key, reloads, signedIn]);

  // Live follow through /tail: lines after the loaded range; after the server goes away, again
  // from the last line seen.
  useEffect(() => {
    const d = data.current;
    if (!state.follow || !hasSelection(state) || d.range === undefined) {
      setFollowStatus("off");
      return;
    }
    const controller = new AbortController();
    let lastNs = d.range.endNs;
    const generation = d.generation;
    const onRows = (rows: Row[]) => {
      if (generation !== d.generation) return;
      withSource(rows);
      for (const r of rows) d.live.push(r);
      lastNs = parseNs(rows.at(-1)!.time) ?? lastNs;
      if (state.order === "newest") setTopAdded((n) => n + rows.length);
      if (!atEdge.current) setPending((n) => n + rows.length);
      bump();
    };
    void (async () => {
      let wait = 500;
      setFollowStatus("connecting");
      while (!controller.signal.aborted) {
        const params = filterParams(state, selectionParams(state));
        params.set("start_time", formatNs(lastNs + 1n));
        try {
          await followTail(params, controller.signal, onRows, () => {
            setFollowStatus("live");
            wait = 500;
          });
        } catch (e) {
          if (controller.signal.aborted) return;
          if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
            setError(e);
            setFollowStatus("off");
            return;
          }
        }
        if (controller.signal.aborted) return;
        setFollowStatus("reconnecting");
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 5000);
      }
    })();
    return () => controller.abort();
  }, [state.follow, key, reloads, signedIn]);

  const d = data.current;
  const count = d.paged.length + d.live.length;
  const newestFirst = state.order === "newest";
  const rowAt = (i: number): Row =>
    newestFirst
      ? i < d.live.length
        ? d.live[d.live.length - 1 - i]!
        : d.paged[i - d.live.length]!
      : i < d.paged.length
        ? d.paged[i]!
        : d.live[i - d.paged.length]!;

  useEffect(() => {
    if (!firstRowsMarked.current && count > 0) {
      firstRowsMarked.current = true;
      requestAnimationFrame(() => performance.mark("explorer-first-rows"));
    }
  }, [version]);

  const highlight = useMemo(() => {
    if (state.q === "") return undefined;
    try {
      return new RegExp(state.regex ? state.q : escapeRegExp(state.q), state.matchCase ? "g" : "gi");
    } catch {
      return undefined;
    }
  }, [state.q, state.regex, state.matchCase]);

  // Search box: applied on Enter or after a pause in typing.
  const [search, setSearch] = useState(state.q);
  useEffect(() => setSearch(state.q), [state.q]);
  useEffect(() => {
    if (search === state.q) return;
    const timer = setTimeout(() => update({ q: search, at: "" }), 500);
    return () => clearTimeout(timer);
  }, [search]);

  const searchInput = useRef<HTMLInputElement>(null);
  const toggleFollow = () =>
    setState((s) => {
      if (s.follow) return { ...s, follow: false };
      setScrollTo({ index: s.order === "newest" ? 0 : Number.MAX_SAFE_INTEGER, seq: Date.now() });
      return { ...s, follow: true, to: "", at: "" };
    });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setSelected(undefined);
      if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") {
        e.preventDefault();
        searchInput.current?.focus();
        searchInput.current?.select();
      } else if (e.key === "f") {
        e.preventDefault();
        toggleFollow();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  const [toast, setToast] = useState("");
  const copied = async (what: string, text: string) => {
    const ok = await copyText(text);
    setToast(ok ? `${what} copied` : `Could not copy the ${what.toLowerCase()}`);
    setTimeout(() => setToast(""), 2000);
  };
  const permalink = (row?: Row) => {
    let s = d.range ? absolute(state, d.range) : state;
    if (row !== undefined) s = { ...s, ...(newestFirst ? { to: row.time } : { from: row.time }), at: row.time };
    return `${location.origin}${location.pathname}?${stateToSearch(s)}`;
  };

  // Details of the selected line: its pod's labels (from discovery, of its namespace).
  const [detailPods, setDetailPods] = useState<PodInfo[]>([]);
  useEffect(() => {
    if (selected?.namespace === undefined) return;
    if (selected.namespace === state.namespace) return setDetailPods(pods);
    getJson<{ pods: PodInfo[] }>(`/namespaces/${encodeURIComponent(selected.namespace)}/pods`, discoveryParams())
      .then((a) => setDetailPods(a.pods))
      .catch(() => setDetailPods([]));
  }, [selected, pods]);

  const errorText = error === undefined ? undefined : typeof error === "string" ? error : `${error.message}: ${error.detail}`;
  const searchError = error instanceof ApiError && /^(regexp|filter|regexp_out|filter_out):/.test(error.detail);
  const [fromText, setFromText] = useState(state.from);
  const [toText, setToText] = useState(state.to);
  useEffect(() => {
    setFromText(state.from);
    setToText(state.to);
  }, [state.from, state.to]);
  const applyRange = () => {
    if (fromText.trim() === "") return update({ from: "", to: "" }, true);
    update({ from: fromText.trim(), to: toText.trim(), follow: toText.trim() === "" && state.follow }, true);
  };

  return (
    <div class="app">
      <header class="bar">
        <h1 title="kube-insight-logserver">Logs</h1>
        <div class="segmented" role="group" aria-label="select by">
          <button type="button" class={state.mode === "pod" ? "on" : ""} onClick={() => update({ mode: "pod" }, true)}>
            Pod
          </button>
          <button type="button" class={state.mode === "selector" ? "on" : ""} onClick={() => update({ mode: "selector" }, true)}>
            Labels
          </button>
        </div>
        {state.mode === "pod" ? (
          <>
            <Combobox
              name="namespace"
              placeholder="namespace"
              value={state.namespace}
              options={namespaces.map((n) => ({ value: n }))}
              onChange={(namespace) => update({ namespace, pod: "", container: "", at: "" }, true)}
            />
            <Combobox
              name="pod"
              placeholder="pod"
              value={state.pod}
              allLabel="all pods"
              disabled={state.namespace === ""}
              options={pods.map((p) => ({ value: p.name, hint: p.containers.map((c) => c.name).join(", ") }))}
              onChange={(pod) => update({ pod, container: "", at: "" }, true)}
            />
            <Combobox
              name="container"
              placeholder="container"
              value={state.container}
              allLabel="all containers"
              disabled={state.pod === ""}
              options={containers.map((c) => ({ value: c }))}
              onChange={(container) => update({ container, at: "" }, true)}
            />
          </>
        ) : (
          <form
            class="selector"
            onSubmit={(e) => {
              e.preventDefault();
              const value = new FormData(e.currentTarget).get("selector");
              update({ selector: String(value ?? ""), at: "" }, true);
            }}
          >
            <input
              name="selector"
              list="label-names"
              aria-label="label selector"
              placeholder="app=nginx,tier!=db  (Enter)"
              defaultValue={state.selector}
              key={state.selector}
              spellcheck={false}
            />
            <datalist id="label-names">
              {labelNames.map((n) => (
                <option key={n} value={`${n}=`} />
              ))}
            </datalist>
          </form>
        )}
        <span class="grow" />
        <button type="button" onClick={() => setTheme(theme === "dark" ? "light" : "dark")} title="dark / light">
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
        {signedIn && (
          <button
            type="button"
            onClick={() => {
              clearCredentials();
              location.reload();
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <div class="bar tools">
        <div class="segmented" role="group" aria-label="time range">
          {PRESETS.map((p) => (
            <button
              key={p}
              type="button"
              data-preset={p}
              class={state.from === "" && state.since === p ? "on" : ""}
              onClick={() => update({ since: p, from: "", to: "", at: "" }, true)}
            >
              {p}
            </button>
          ))}
        </div>
        <button type="button" onClick={() => setReloads((n) => n + 1)} title="read the range again (relative ranges end now)">
          ↻
        </button>
        <form
          class="range"
          onSubmit={(e) => {
            e.preventDefault();
            applyRange();
          }}
        >
          <input
            name="from"
            aria-label="from"
            placeholder="from (RFC 3339)"
            value={fromText}
            onInput={(e) => setFromText(e.currentTarget.value)}
          />
          <input
            name="to"
            aria-label="to"
            placeholder="to (empty: now)"
            value={toText}
            onInput={(e) => setToText(e.currentTarget.value)}
          />
          <button type="submit">Apply</button>
        </form>
        <form
          class="search"
          onSubmit={(e) => {
            e.preventDefault();
            update({ q: search, at: "" });
          }}
        >
          <input
            ref={searchInput}
            name="q"
            type="search"
            aria-label="search"
            placeholder={state.regex ? "regular expression  ( / )" : "search  ( / )"}
            value={search}
            spellcheck={false}
            class={searchError ? "invalid" : ""}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
          <button
            type="button"
            class={state.matchCase ? "on" : ""}
            title="match case"
            aria-pressed={state.matchCase}
            onClick={() => update({ matchCase: !state.matchCase })}
          >
            Aa
          </button>
          <button
            type="button"
            class={state.regex ? "on" : ""}
            title="regular expression"
            aria-pressed={state.regex}
            onClick={() => update({ regex: !state.regex })}
          >
            .*
          </button>
        </form>
        <span class="grow" />
        <button type="button" onClick={() => update({ order: newestFirst ? "oldest" : "newest" })} title="order">
          {newestFirst ? "Newest first" : "Oldest first"}
        </button>
        <button type="button" class={state.utc ? "on" : ""} onClick={() => update({ utc: !state.utc })} title="time zone">
          {state.utc ? "UTC" : "Local"}
        </button>
        <button
          type="button"
          class={state.wrap ? "on" : ""}
          aria-pressed={state.wrap}
          onClick={() => update({ wrap: !state.wrap })}
        >
          Wrap
        </button>
        <button
          type="button"
          class={state.follow ? "on follow" : "follow"}
          aria-pressed={state.follow}
          onClick={toggleFollow}
          title="follow (f)"
        >
          {state.follow ? "● Following" : "Follow"}
        </button>
        <button type="button" onClick={() => copied("Link", permalink())} title="a link to this view">
          Copy link
        </button>
      </div>
      {errorText !== undefined && (
        <div class={searchError ? "error search-error" : "error"} role="alert">
          {errorText}
        </div>
      )}
      {hasSelection(state) && (
        <div class="chart">
          <div class="chart-head">
            <span>
              Lines per{" "}
              {volume
                ? `${volume.step_seconds >= 3600 ? `${volume.step_seconds / 3600}h` : `${volume.step_seconds / 60}m`}`
                : "interval"}
            </span>
            <div class="segmented small" role="group" aria-label="histogram by">
              <button type="button" class={state.hist === "stream" ? "on" : ""} onClick={() => update({ hist: "stream" })}>
                stdout/stderr
              </button>
              <button type="button" class={state.hist === "level" ? "on" : ""} onClick={() => update({ hist: "level" })}>
                level
              </button>
            </div>
            <small>drag to zoom</small>
            {volumeError && <span class="error-inline">{volumeError}</span>}
          </div>
          <Histogram
            volume={volume}
            by={state.hist}
            utc={state.utc}
            dark={theme === "dark"}
            onZoom={(fromMs, toMs) =>
              update(
                { from: formatNs(BigInt(fromMs) * 1_000_000n), to: formatNs(BigInt(toMs) * 1_000_000n), follow: false, at: "" },
                true,
              )
            }
          />
        </div>
      )}
      <div class="status" aria-live="polite">
        {!hasSelection(state) ? (
          <span>
            {state.mode === "pod" ? "Pick a namespace (and a pod) to read its logs." : "Type a label selector and press Enter."}
          </span>
        ) : (
          <span class="counts">
            <b data-count={count}>{count.toLocaleString()}</b> lines
            {d.loading ? " · loading…" : d.cursor ? " · scroll for more" : " · all of the range"}
            {state.follow && ` · follow: ${followStatus}`}
          </span>
        )}
        {state.follow && paused && (
          <button
            type="button"
            class="paused"
            onClick={() => setScrollTo({ index: newestFirst ? 0 : count - 1, seq: Date.now() })}
          >
            Paused · {pending} new line{pending === 1 ? "" : "s"} {newestFirst ? "↑" : "↓"}
          </button>
        )}
        {toast && <span class="toast">{toast}</span>}
      </div>
      <main class="body">
        <LogView
          count={count}
          rowAt={rowAt}
          version={version}
          topAdded={topAdded}
          wrap={state.wrap}
          utc={state.utc}
          showSource={!pinned}
          highlight={highlight}
          selected={selected}
          marked={state.at}
          onSelect={setSelected}
          onNearEnd={() => void loadPage(false)}
          edge={newestFirst ? "top" : "bottom"}
          stick={state.follow && !paused}
          onEdgeChange={(edge) => {
            atEdge.current = edge;
            setPaused(!edge);
            if (edge) setPending(0);
          }}
          scrollTo={scrollTo}
        />
        {selected && (
          <Details
            row={selected}
            pod={detailPods.find((p) => p.name === selected.pod_name)}
            utc={state.utc}
            onClose={() => setSelected(undefined)}
            onCopyLine={() => copied("Line", selected.log)}
            onCopyLink={() => copied("Link", permalink(selected))}
          />
        )}
      </main>
      {authProblem && <AuthDialog problem={authProblem} initial={loadCredentials()} onSubmit={signIn} />}
    </div>
  );
}
