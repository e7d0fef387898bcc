// One line, in full: its time to the nanosecond, stream, container, the pod's labels and node, and
// the fields of a structured line (JSON or logfmt), with copy buttons.
import type { PodInfo, Row } from "../api.ts";
import { displayTime } from "../time.ts";

interface Props {
  row: Row;
  pod: PodInfo | undefined;
  utc: boolean;
  onClose: () => void;
  onCopyLine: () => void;
  onCopyLink: () => void;
}

/** The fields of a JSON object line, or of a logfmt line (key=value ...); none otherwise. */
export function fieldsOf(line: string): [string, string][] {
  const text = line.trim();
  if (text.startsWith("{")) {
    try {
      const value = JSON.parse(text) as unknown;
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        return Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
      }
    } catch {
      // not JSON
    }
  }
  const out: [string, string][] = [];
  const re = /([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of text.matchAll(re)) {
    const v = m[2]!;
    out.push([m[1]!, v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v]);
  }
  return out.length >= 2 ? out : [];
}

function Table({ title, entries }: { title: string; entries: [string, string][] }) {
  if (entries.length === 0) return null;
  return (
    <section>
      <h3>{title}</h3>
      <table>
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Details({ row, pod, utc, onClose, onCopyLine, onCopyLink }: Props) {
  const where: [string, string][] = [
    ["time", row.time],
    [utc ? "UTC" : "local", displayTime(row.time, utc)],
    ["stream", row.stream || "(not reported)"],
    ["namespace", row.namespace ?? ""],
    ["pod", row.pod_name ?? ""],
    ["container", row.container_name ?? ""],
  ];
  if (pod?.host) where.push(["node", pod.host]);
  return (
    <aside class="details" aria-label="line details">
      <header>
        <h2>Line</h2>
        <button type="button" onClick={onCopyLine}>
          Copy line
        </button>
        <button type="button" onClick={onCopyLink}>
          Copy link
        </button>
        <button type="button" class="close" aria-label="close" onClick={onClose}>
          ×
        </button>
      </header>
      <pre class="line">{row.log}</pre>
      <Table title="Where" entries={where} />
      <Table title="Pod labels" entries={Object.entries(pod?.labels ?? {}).sort(([a], [b]) => a.localeCompare(b))} />
      <Table title="Fields" entries={fieldsOf(row.log)} />
    </aside>
  );
}
