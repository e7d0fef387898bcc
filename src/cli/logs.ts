// `kube-insight-logserver logs ...`: kubectl logs' flags against a kube-insight-logserver.
// One-shot reads use GET /query (streamed, paged by next_cursor); -f uses GET /tail (follow.ts).
import { parseLogsArgs, UsageError, type LogsOptions } from "./args.ts";
import { follow } from "./follow.ts";
import { formatLine, Output, OutputError, type FormatOptions } from "./format.ts";
import { ClientError, processIo, type LogsIo } from "./io.ts";
import { authHeaders, describeErrorAnswer, describeNetworkError, endpoint, queryParams, serverName } from "./request.ts";
import { AnswerError, parseRow, RowSplitter } from "./rows.ts";

const PROGRAM = "kube-insight-logserver logs";

const SYNOPSIS = `usage: ${PROGRAM} [-n NAMESPACE] [POD | pod/NAME] [-c CONTAINER] [--all-containers]
    [-l SELECTOR] [--since 1h | --since-time RFC3339] [--tail N] [-f] [--timestamps] [--prefix]
    [--grep REGEX] [--server URL] [--token TOKEN | --user USER:PASSWORD] [--tenant ID]`;

export const USAGE = `Print the lines a pod's containers wrote, as kubectl logs does, read from a kube-insight-logserver.

${SYNOPSIS}

Options:
  -n, --namespace NS         namespace of the pod (default "default")
  -c, --container NAME       one container of the pod (default: all of them)
      --all-containers       all containers of the pod (also the default without -c)
  -l, --selector SELECTOR    pods by label instead of POD: app=nginx,tier!=db (also ==, =~, !~)
      --since DURATION       only lines newer than 10s, 5m, 1h, 2d, 1w, 1h30m, ...
      --since-time TIME      only lines from this RFC 3339 time on
      --tail N               only the last N lines (-1: all); with -f and -l the default is 10
  -f, --follow               keep printing new lines (reconnects after a server restart; Ctrl-C ends)
      --timestamps           print each line's time (RFC3339Nano, UTC) before it
      --prefix               print [pod/POD/CONTAINER] before each line
      --grep REGEX           only lines matching REGEX (repeatable: all must match)
      --server URL           the server (env KUBE_INSIGHT_SERVER, default http://localhost:8080)
      --token TOKEN          send 'Authorization: Bearer TOKEN' (env KUBE_INSIGHT_TOKEN)
      --user USER:PASSWORD   send HTTP basic auth (env KUBE_INSIGHT_USER)
      --tenant ID            send X-Scope-OrgID: ID, the tenant to read (env KUBE_INSIGHT_TENANT)
  -h, --help                 print this help

Examples:
  ${PROGRAM} -n kube-system weave-net-5mfwh -c weave --since 1h
  ${PROGRAM} -l app=nginx --prefix --timestamps -f
`;

/** Runs the client with its arguments (after "logs"); resolves to the exit code. */
export async function runLogs(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: LogsIo = processIo(),
): Promise<number> {
  let options: LogsOptions | "help";
  try {
    options = parseLogsArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`error: ${error.message}\n\n${SYNOPSIS}\nSee '${PROGRAM} --help' for the options.\n`);
    return 2;
  }
  if (options === "help") {
    await io.stdout(USAGE);
    return 0;
  }
  const fmt: FormatOptions = {
    timestamps: options.timestamps,
    prefix: options.prefix,
    ...(options.pod !== undefined && { pod: options.pod }),
    ...(options.container !== undefined && { container: options.container }),
  };
  try {
    return options.follow ? await follow(options, fmt, io) : await printQuery(options, fmt, io);
  } catch (error) {
    // The reader of our output has gone (`| head`): nothing left to say to anyone.
    if (error instanceof OutputError && error.code === "EPIPE") return 0;
    if (error instanceof ClientError || error instanceof OutputError) {
      io.stderr(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** One-shot read: GET /query, printed as it streams in, following next_cursor unless --tail. */
async function printQuery(o: LogsOptions, fmt: FormatOptions, io: LogsIo): Promise<number> {
  const output = new Output(io.stdout);
  const params = queryParams(o);
  // With --tail the answer is the last N lines: a cursor would lead past them.
  const pages = o.tail === undefined || o.tail < 0;
  try {
    for (;;) {
      const res = await get(endpoint(o, "query", params), o, io);
      const { rows, nextCursor } = await printAnswer(res, o, fmt, output);
      if (!pages || nextCursor === undefined || rows === 0) break;
      params.set("cursor", nextCursor);
    }
  } finally {
    await output.flush(); // what arrived before an error is printed before it
  }
  return 0;
}

async function get(url: URL, o: LogsOptions, io: LogsIo): Promise<Response> {
  let res: Response;
  try {
    res = await io.fetch(url, { headers: authHeaders(o) });
  } catch (error) {
    throw new ClientError(`cannot connect to ${serverName(o)}: ${describeNetworkError(error)}`);
  }
  if (!res.ok) throw new ClientError(await describeErrorAnswer(res));
  return res;
}

/** Prints one /query answer row by row as it arrives; returns how many rows and the next cursor. */
async function printAnswer(
  res: Response,
  o: LogsOptions,
  fmt: FormatOptions,
  output: Output,
): Promise<{ rows: number; nextCursor?: string }> {
  if (res.body === null) throw new ClientError(`${serverName(o)}/query answered without a body`);
  const splitter = new RowSplitter();
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  let rows = 0;
  const feed = async (text: string) => {
    for (const row of splitter.push(text)) {
      output.add(formatLine(parseRow(row), fmt));
      rows++;
      if (output.full) await output.flush();
    }
    await output.flush();
  };
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new ClientError(`the answer of ${serverName(o)}/query was cut off: ${describeNetworkError(error)}`);
      }
      if (chunk.done) break;
      await feed(decoder.decode(chunk.value, { stream: true }));
    }
    await feed(decoder.decode());
    return { rows, ...splitter.end() };
  } catch (error) {
    if (error instanceof AnswerError) throw new ClientError(`unexpected answer from ${serverName(o)}/query: ${error.message}`);
    throw error;
  } finally {
    void reader.cancel().catch(() => {});
  }
}
