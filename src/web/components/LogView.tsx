// The lines, virtualised: only the rows in view (and a few around them) are in the DOM, however
// many are loaded. Rows are one line high unless wrapped; wrapped rows are estimated from their
// length, then measured once shown (heights are kept by row, so rows added above keep theirs).
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Row } from "../api.ts";
import { displayTime } from "../time.ts";

export const ROW_HEIGHT = 20;
const OVERSCAN = 12;
/** Rows from the end at which the next page is asked for. */
const PREFETCH_ROWS = 200;

interface Props {
  count: number;
  rowAt: (i: number) => Row;
  /** Changes whenever rows change. */
  version: number;
  /** Rows added at the top so far (a follow with newest first): the view stays where it was. */
  topAdded: number;
  wrap: boolean;
  utc: boolean;
  showSource: boolean;
  highlight: RegExp | undefined;
  selected: Row | undefined;
  marked: string;
  onSelect: (row: Row) => void;
  onNearEnd: () => void;
  /** Where the newest lines are; with `stick`, the view stays there as lines arrive. */
  edge: "top" | "bottom";
  stick: boolean;
  onEdgeChange: (atEdge: boolean) => void;
  /** Scroll so that this row shows (seq: a new request). */
  scrollTo: { index: number; seq: number } | undefined;
}

function highlighted(text: string, re: RegExp | undefined) {
  if (re === undefined || text === "") return text;
  const parts: ComponentChildren[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null && parts.length < 200; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(<mark key={m.index}>{m[0]}</mark>);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function LogView(props: Props) {
  const { count, rowAt, version, wrap } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const probe = useRef<HTMLSpanElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [charWidth, setCharWidth] = useState(7.2);
  const measured = useRef(new WeakMap<Row, number>());
  const [measureVersion, setMeasureVersion] = useState(0);
  const topAdded = useRef(props.topAdded);

  useEffect(() => {
    const el = scroller.current!;
    const observer = new ResizeObserver(() => setSize({ width: el.clientWidth, height: el.clientHeight }));
    observer.observe(el);
    if (probe.current) setCharWidth(probe.current.getBoundingClientRect().width / 10 || 7.2);
    return () => observer.disconnect();
  }, []);

  // Wrapped rows: estimated from the text's length in the width left for it, until measured.
  const textColumns = Math.max(20, Math.floor((size.width - (props.showSource ? 420 : 230)) / charWidth));
  const heightOf = (row: Row) => measured.current.get(row) ?? ROW_HEIGHT * Math.max(1, Math.ceil(row.log.length / textColumns));

  const offsets = useMemo(() => {
    if (!wrap) return undefined;
    const o = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) o[i + 1] = o[i]! + heightOf(rowAt(i));
    return o;
  }, [version, count, wrap, textColumns, measureVersion]);
  const offsetOf = (i: number) => (offsets ? offsets[i]! : i * ROW_HEIGHT);
  const total = offsetOf(count);
  const indexAt = (y: number) => {
    if (!offsets) return Math.min(count, Math.max(0, Math.floor(y / ROW_HEIGHT)));
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (offsets[mid]! <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const first = Math.max(0, indexAt(scrollTop) - OVERSCAN);
  const last = Math.min(count, indexAt(scrollTop + size.height) + OVERSCAN + 1);

  const atEdge = () => {
    const el = scroller.current!;
    return props.edge === "top" ? el.scrollTop < 4 : el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
  };

  // Rows added above: keep the lines in view where they are, unless the view is at the top.
  useLayoutEffect(() => {
    const added = props.topAdded - topAdded.current;
    topAdded.current = props.topAdded;
    const el = scroller.current!;
    if (added > 0 && !(props.stick && props.edge === "top") && el.scrollTop > 0) {
      el.scrollTop += offsetOf(added);
      setScrollTop(el.scrollTop);
    }
  }, [props.topAdded]);

  // Following: stay at the newest lines.
  useLayoutEffect(() => {
    const el = scroller.current!;
    if (!props.stick) return;
    el.scrollTop = props.edge === "top" ? 0 : el.scrollHeight;
    setScrollTop(el.scrollTop);
  }, [version, props.stick, props.edge, total]);

  useLayoutEffect(() => {
    if (props.scrollTo === undefined) return;
    const el = scroller.current!;
    el.scrollTop = Math.max(0, offsetOf(Math.min(props.scrollTo.index, count)) - el.clientHeight / 3);
    setScrollTop(el.scrollTop);
  }, [props.scrollTo?.seq]);

  // Wrapped rows in view: measure them, and lay out again when an estimate was off.
  useLayoutEffect(() => {
    if (!wrap) return;
    let changed = false;
    for (const child of scroller.current!.querySelectorAll<HTMLElement>(".row")) {
      const row = rowAt(Number(child.dataset.index));
      const h = child.offsetHeight;
      if (row !== undefined && measured.current.get(row) !== h) {
        measured.current.set(row, h);
        changed = true;
      }
    }
    if (changed) setMeasureVersion((v) => v + 1);
  });

  useEffect(() => {
    if (last >= count - PREFETCH_ROWS) props.onNearEnd();
  }, [last, count]);

  const rows = [];
  for (let i = first; i < last; i++) {
    const row = rowAt(i);
    const classes = ["row", row.stream === "stderr" ? "stderr" : "stdout"];
    if (row === props.selected) classes.push("selected");
    if (props.marked !== "" && row.time === props.marked) classes.push("marked");
    rows.push(
      <div key={i} class={classes.join(" ")} data-index={i} onClick={() => props.onSelect(row)}>
        <span class="time">{displayTime(row.time, props.utc)}</span>
        <span class="stream" title={row.stream || "stream not reported"}>
          {row.stream === "stderr" ? "err" : row.stream === "stdout" ? "out" : "—"}
        </span>
        {props.showSource && (
          <span class="source" title={`${row.namespace}/${row.pod_name}/${row.container_name}`}>
            {row.pod_name}/{row.container_name}
          </span>
        )}
        <span class="text">{highlighted(row.log, props.highlight)}</span>
      </div>,
    );
  }

  return (
    <div
      ref={scroller}
      class={wrap ? "logview wrap" : "logview"}
      tabIndex={0}
      onScroll={(e) => {
        setScrollTop((e.target as HTMLElement).scrollTop);
        props.onEdgeChange(atEdge());
      }}
    >
      <span ref={probe} class="probe" aria-hidden="true">
        0123456789
      </span>
      <div class="spacer" style={{ height: `${total}px` }}>
        <div class="rows" style={{ transform: `translateY(${offsetOf(first)}px)` }}>
          {rows}
        </div>
      </div>
    </div>
  );
}
