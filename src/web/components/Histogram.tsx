// Lines per interval over the range (GET /volume), as stacked bars by stdout/stderr or by detected
// level, drawn with uPlot. Dragging across it zooms the range to the dragged interval.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Volume } from "../api.ts";
import { parseNs, axisTime } from "../time.ts";

interface Props {
  volume: Volume | undefined;
  by: "stream" | "level";
  utc: boolean;
  dark: boolean;
  onZoom: (fromMs: number, toMs: number) => void;
}

const STREAM_COLORS: Record<string, string> = { stdout: "#3b82f6", stderr: "#ef4444", unknown: "#9ca3af" };
const LEVEL_COLORS: Record<string, string> = {
  critical: "#7f1d1d",
  fatal: "#7f1d1d",
  error: "#ef4444",
  warn: "#f59e0b",
  warning: "#f59e0b",
  info: "#22c55e",
  debug: "#3b82f6",
  trace: "#8b5cf6",
  unknown: "#9ca3af",
};
/** Whole numbers of lines on the y axis. */
const COUNT_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9,
];
const LEVEL_ORDER = ["critical", "fatal", "error", "warn", "warning", "info", "debug", "trace", "unknown"];

/** The series of the chart: names and, per bucket, their counts; stacked (drawn as sums). */
function seriesOf(volume: Volume, by: "stream" | "level") {
  const names = new Set<string>();
  for (const b of volume.buckets) for (const k of Object.keys(by === "stream" ? b.streams : b.levels)) names.add(k);
  const order = by === "stream" ? ["stdout", "stderr", "unknown"] : LEVEL_ORDER;
  const sorted = [...names].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  if (sorted.length === 0) sorted.push(by === "stream" ? "stdout" : "unknown");
  const raw = sorted.map((name) => volume.buckets.map((b) => (by === "stream" ? b.streams : b.levels)[name] ?? 0));
  return { names: sorted, raw };
}

export function Histogram({ volume, by, utc, dark, onZoom }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const zoom = useRef(onZoom);
  zoom.current = onZoom;

  useEffect(() => {
    const el = box.current!;
    if (volume === undefined || volume.buckets.length === 0) return;
    const stepS = volume.step_seconds;
    const xs = volume.buckets.map((b) => Number(parseNs(b.time)! / 1_000_000_000n));
    const { names, raw } = seriesOf(volume, by);
    // Stacked: series i is drawn as the sum of series 0..i, the tallest first, so each shows its band.
    const sums = raw.map((_, i) => xs.map((_, j) => raw.slice(0, i + 1).reduce((s, r) => s + r[j]!, 0)));
    const colors = by === "stream" ? STREAM_COLORS : LEVEL_COLORS;
    const spanMs = (xs.at(-1)! - xs[0]! + stepS) * 1000;
    const axis = dark ? "#9ca3af" : "#4b5563";
    const grid = dark ? "#374151" : "#e5e7eb";
    const bars = uPlot.paths.bars!({ size: [0.9, 40], align: 1 });
    const opts: uPlot.Options = {
      width: el.clientWidth || 800,
      height: 110,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true, range: () => [xs[0]!, xs.at(-1)! + stepS] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          values: (_u, splits) => splits.map((s) => axisTime(s * 1000, utc, spanMs)),
        },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 50, incrs: COUNT_STEPS },
      ],
      series: [
        { label: "time", value: (_u, v) => (v == null ? "" : axisTime(v * 1000, utc, 0)) },
        ...names
          .map((name, i) => ({
            label: name,
            stroke: colors[name] ?? "#6b7280",
            fill: colors[name] ?? "#6b7280",
            width: 0,
            paths: bars,
            points: { show: false },
            value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) =>
              idx == null ? "" : String(raw[i]![idx] ?? 0),
          }))
          .reverse(),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const from = u.posToVal(u.select.left, "x");
            const to = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoom.current(Math.floor(from * 1000), Math.ceil(to * 1000));
          },
        ],
      },
    };
    const data = [xs, ...sums.slice().reverse()] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 110 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [volume, by, utc, dark]);

  return (
    <div class="histogram" ref={box} data-buckets={volume?.buckets.length ?? 0}>
      {volume !== undefined && volume.total.lines === 0 && <div class="histogram-empty">no lines in this range</div>}
    </div>
  );
}
