// How `logs` prints a row, as kubectl does, and a buffered stdout that waits for slow readers.
import type { LogRow } from "./rows.ts";

export interface FormatOptions {
  timestamps: boolean;
  prefix: boolean;
  /** The pod and container the query was pinned to: rows then leave them out. */
  pod?: string;
  container?: string;
}

/** `[pod/POD/CONTAINER] ` (with --prefix), then `TIME ` (with --timestamps), then the text, one newline. */
export function formatLine(row: LogRow, o: FormatOptions): string {
  let out = "";
  if (o.prefix) out += `[pod/${row.pod_name ?? o.pod ?? ""}/${row.container_name ?? o.container ?? ""}] `;
  if (o.timestamps) out += `${row.time} `;
  out += row.log;
  // A line keeps its own newline (as the runtime wrote it), never doubled.
  return row.log.endsWith("\n") ? out : `${out}\n`;
}

/** Where printed text goes; resolves once it was taken (backpressure from a slow reader). */
export type TextSink = (text: string) => Promise<void>;

/** A sink for process.stdout: resolves when the text was written, rejects on EPIPE and the like. */
export function stdoutSink(): TextSink {
  return (text) => new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
}

/** Collects lines and writes them in larger pieces: one write per line is slow. */
export class Output {
  private pending: string[] = [];
  private size = 0;

  constructor(private readonly sink: TextSink) {}

  add(text: string): void {
    this.pending.push(text);
    this.size += text.length;
  }

  /** Worth writing now: callers flush after each network read, or earlier past this size. */
  get full(): boolean {
    return this.size >= 256 * 1024;
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.size = 0;
    try {
      await this.sink(text);
    } catch (error) {
      throw new OutputError(error);
    }
  }
}

/** Writing the output failed (EPIPE when the reader, say `head`, has gone). */
export class OutputError extends Error {
  readonly code: string | undefined;
  constructor(cause: unknown) {
    super(`cannot write the output: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.code = (cause as { code?: string } | null)?.code;
  }
}
