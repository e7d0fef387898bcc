// `logs -f`: one GET /tail event stream; when it drops (a server restart), reconnect every second
// from the time of the last line printed, skipping the lines already printed at that time.
import { parseRfc3339 } from "../time.ts";
import type { LogsOptions } from "./args.ts";
import { formatLine, Output, OutputError, type FormatOptions } from "./format.ts";
import { ClientError, type LogsIo } from "./io.ts";
import { authHeaders, describeErrorAnswer, describeNetworkError, endpoint, serverName, tailParams } from "./request.ts";
import { AnswerError, parseRow, type LogRow } from "./rows.ts";
import { SseParser } from "./sse.ts";

/**
 * The lines printed at the latest time, so that a stream resumed from that time (inclusive)
 * prints none of them twice. Identical lines of one nanosecond are counted, not collapsed.
 */
export class PrintedLines {
  private lastNs: bigint | undefined;
  private lastTime: string | undefined;
  private atLast = new Map<string, number>();
  /** After a resume: lines at `skipNs` still to be skipped. */
  private skipNs: bigint | undefined;
  private skip = new Map<string, number>();

  /** Whether to print the row; a printed row is remembered. */
  admit(row: LogRow): boolean {
    const ns = parseRfc3339(row.time);
    if (ns === undefined) return true; // cannot be placed in time: printed, not remembered
    const key = lineKey(row);
    if (this.skipNs !== undefined) {
      if (ns < this.skipNs) return false; // before the resume point: printed before the drop
      if (ns === this.skipNs) {
        const n = this.skip.get(key) ?? 0;
        if (n > 0) {
          this.skip.set(key, n - 1);
          return false;
        }
      } else {
        this.skipNs = undefined;
        this.skip.clear();
      }
    }
    if (ns !== this.lastNs) {
      this.lastNs = ns;
      this.atLast.clear();
    }
    this.lastTime = row.time;
    this.atLast.set(key, (this.atLast.get(key) ?? 0) + 1);
    return true;
  }

  /** Where a new stream starts (the last printed line's time), or undefined if none was printed. */
  resume(): string | undefined {
    if (this.lastTime === undefined) return undefined;
    this.skipNs = this.lastNs;
    this.skip = new Map(this.atLast);
    return this.lastTime;
  }
}

// Same time and text, as the contract says, and the same container: two pods' equal lines are two lines.
const lineKey = (r: LogRow): string => JSON.stringify([r.namespace, r.pod_name, r.container_name, r.stream, r.log]);

/** N of a `dropped` event's `{"dropped":N}`; a malformed count still warns. */
function droppedCount(data: string): string {
  try {
    const n = (JSON.parse(data) as { dropped?: unknown }).dropped;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) return String(n);
  } catch {
    // "some", below
  }
  return "some";
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });

/** Runs `logs -f` until Ctrl-C (exit 0) or an error that retrying cannot mend (ClientError). */
export async function follow(o: LogsOptions, fmt: FormatOptions, io: LogsIo): Promise<number> {
  const stopped = new AbortController();
  const stopListening = io.onInterrupt(() => stopped.abort());
  const output = new Output(io.stdout);
  const printed = new PrintedLines();
  const server = serverName(o);
  let connectedOnce = false;
  let lostAt: number | undefined; // when the stream dropped; undefined while it is up
  let problem = "";
  const onEvent = async (event: string, data: string) => {
    if (event === "line") {
      const row = parseRow(data);
      if (printed.admit(row)) output.add(formatLine(row, fmt));
      if (output.full) await output.flush();
    } else if (event === "dropped") {
      await output.flush(); // the warning lands after the lines that came before it
      io.stderr(`warning: ${droppedCount(data)} lines dropped: the client reads too slowly\n`);
    }
    // Other events: none in the contract; ignored, so that a newer server may add some.
  };
  try {
    while (!stopped.signal.aborted) {
      if (lostAt !== undefined) {
        if (Date.now() - lostAt >= io.timing.giveUpAfterMs) {
          const seconds = Math.round(io.timing.giveUpAfterMs / 1000);
          throw new ClientError(`lost the connection to ${server} and could not reconnect within ${seconds}s: ${problem}`);
        }
        await sleep(io.timing.retryEveryMs, stopped.signal);
        if (stopped.signal.aborted) break;
      }
      const url = endpoint(o, "tail", tailParams(o, printed.resume()));
      const outcome = await streamOnce(url, o, io, stopped.signal, onEvent, () => output.flush());
      if (stopped.signal.aborted) break;
      if (outcome.kind === "ended") {
        connectedOnce = true;
        lostAt = Date.now();
      } else if (outcome.kind === "fatal" || !connectedOnce) {
        throw new ClientError(outcome.message); // at the start, an absent server is an error, as kubectl's
      }
      problem = outcome.message;
    }
  } finally {
    stopListening();
    await output.flush();
  }
  return 0;
}

type Outcome =
  /** The stream was up, then ended or broke: reconnect. */
  | { kind: "ended"; message: string }
  /** No stream: the server is away or not ready (5xx). Retried after a drop, fatal at the start. */
  | { kind: "unreachable"; message: string }
  /** The server refused (4xx) or does not speak the contract: never retried. */
  | { kind: "fatal"; message: string };

/** One GET /tail: hands each event to `onEvent`, calls `afterRead` after each network read. */
async function streamOnce(
  url: URL,
  o: LogsOptions,
  io: LogsIo,
  stopped: AbortSignal,
  onEvent: (type: string, data: string) => Promise<void>,
  afterRead: () => Promise<void>,
): Promise<Outcome> {
  const connection = new AbortController();
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A dead peer (a host gone, not restarted) sends no FIN: silence past the heartbeats tells.
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      connection.abort();
    }, io.timing.idleTimeoutMs);
  };
  const unwatch = () => clearTimeout(timer);
  const server = serverName(o);
  const idleMessage = `no data from ${server} for ${Math.round(io.timing.idleTimeoutMs / 1000)}s`;

  watch();
  let res: Response;
  try {
    res = await io.fetch(url, {
      headers: { ...authHeaders(o), accept: "text/event-stream" },
      signal: AbortSignal.any([stopped, connection.signal]),
      timeout: false, // Bun's own idle timeout; the watch above is the one that knows the heartbeat
    });
  } catch (error) {
    unwatch();
    return { kind: "unreachable", message: idle ? idleMessage : `cannot connect to ${server}: ${describeNetworkError(error)}` };
  }
  if (!res.ok) {
    const message = await describeErrorAnswer(res);
    unwatch();
    return { kind: res.status >= 500 ? "unreachable" : "fatal", message };
  }
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("text/event-stream") || res.body === null) {
    unwatch();
    void res.body?.cancel().catch(() => {});
    return { kind: "fatal", message: `${server}/tail answered ${type || "no content type"}, not an event stream` };
  }

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      watch();
      const { done, value } = await reader.read();
      unwatch(); // a slow stdout is not a dead connection
      if (done) return { kind: "ended", message: `${server} closed the connection` };
      for (const e of parser.push(decoder.decode(value, { stream: true }))) await onEvent(e.type, e.data);
      await afterRead();
    }
  } catch (error) {
    if (error instanceof OutputError) throw error; // stdout's trouble, not the connection's
    if (error instanceof AnswerError) return { kind: "fatal", message: `unexpected event from ${server}/tail: ${error.message}` };
    if (stopped.aborted) return { kind: "ended", message: "interrupted" };
    return { kind: "ended", message: idle ? idleMessage : `the connection broke: ${describeNetworkError(error)}` };
  } finally {
    unwatch();
    void reader.cancel().catch(() => {});
  }
}
