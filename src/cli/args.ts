// `logs` arguments, spelled as kubectl spells them (pflag conventions: `-n NS`, `-nNS`, `-n=NS`,
// `--tail N`, `--tail=N`, `--tail -1`, `--follow=false`), checked into one LogsOptions.
import { parseArgs } from "node:util";
import { parseRfc3339 } from "../time.ts";

/** A bad flag, value or combination: the caller prints it with the usage and exits 2. */
export class UsageError extends Error {}

export interface LogsOptions {
  /** The server's base URL, ending in "/" so that paths resolve under any prefix it has. */
  server: string;
  /** Exactly one of token and user, or neither. */
  token?: string;
  /** USER:PASSWORD for basic auth. */
  user?: string;
  /** Sent as X-Scope-OrgID, for servers that keep tenants apart. */
  tenant?: string;
  namespace: string;
  pod?: string;
  container?: string;
  selector?: string;
  /** A duration as the server reads it: 10s, 5m, 1h, 2d, 1w, 1h30m. */
  since?: string;
  /** RFC 3339, as given. */
  sinceTime?: string;
  /** Not given: undefined; -1: all lines. */
  tail?: number;
  follow: boolean;
  timestamps: boolean;
  prefix: boolean;
  /** Regular expressions a line must match (repeatable, all must match). */
  grep: string[];
}

export const DEFAULT_SERVER = "http://localhost:8080";
export const DEFAULT_NAMESPACE = "default";

/** kubectl's words for a missing POD (the contract quotes them). */
export const MISSING_POD = "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'";

const FLAGS = {
  namespace: { type: "string", short: "n" },
  container: { type: "string", short: "c" },
  selector: { type: "string", short: "l" },
  follow: { type: "boolean", short: "f" },
  tail: { type: "string" },
  since: { type: "string" },
  "since-time": { type: "string" },
  timestamps: { type: "boolean" },
  prefix: { type: "boolean" },
  "all-containers": { type: "boolean" },
  grep: { type: "string", multiple: true },
  server: { type: "string" },
  token: { type: "string" },
  user: { type: "string" },
  tenant: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type FlagName = keyof typeof FLAGS;

// The contract's durations: one or more number+unit pairs.
const DURATION = /^(?:\d+[smhdw])+$/;
const POD_TYPES = new Set(["pod", "pods", "po"]);

const isFlag = (name: string): name is FlagName => Object.hasOwn(FLAGS, name);

/** Go's strconv.ParseBool, which pflag uses for `--follow=false`. */
function parseBool(raw: string, value: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new UsageError(`invalid argument "${value}" for ${raw}: expected true or false`);
}

/** How pflag names a flag in its errors: `--tail`, or `'n' in -n` for a shorthand. */
const flagWord = (rawName: string): string => (rawName.startsWith("--") ? rawName : `'${rawName.slice(1)}' in ${rawName}`);

/**
 * Parses `logs` arguments (without "logs") and the environment. Returns "help" for -h/--help;
 * throws UsageError for anything kubectl would refuse as usage.
 */
export function parseLogsArgs(argv: readonly string[], env: Record<string, string | undefined>): LogsOptions | "help" {
  // Not strict: parseArgs' strict mode refuses `--tail -1` and `--follow=true`, which pflag takes.
  // Unknown flags and missing values are checked below instead.
  const { tokens } = parseArgs({ args: [...argv], options: FLAGS, strict: false, allowPositionals: true, tokens: true });
  const strings = new Map<FlagName, string>();
  const booleans = new Map<FlagName, boolean>();
  const grep: string[] = [];
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    if (!isFlag(t.name)) {
      throw new UsageError(
        t.rawName.startsWith("--") ? `unknown flag: ${t.rawName}` : `unknown shorthand flag: ${flagWord(t.rawName)}`,
      );
    }
    let value = t.value;
    // pflag reads `-n=NS` as NS; parseArgs keeps the "=".
    if (value !== undefined && t.inlineValue && !t.rawName.startsWith("--") && value.startsWith("=")) value = value.slice(1);
    if (FLAGS[t.name].type === "boolean") {
      booleans.set(t.name, value === undefined ? true : parseBool(t.rawName, value));
      continue;
    }
    if (value === undefined) throw new UsageError(`flag needs an argument: ${flagWord(t.rawName)}`);
    if (t.name === "grep") grep.push(value);
    else strings.set(t.name, value); // last one wins, as pflag
  }
  if (booleans.get("help")) return "help";

  const nonEmpty = (name: FlagName): string | undefined => {
    const v = strings.get(name);
    if (v === "") throw new UsageError(`invalid argument "" for --${name}: must not be empty`);
    return v;
  };

  // POD, TYPE/NAME, or kubectl's older `POD CONTAINER`.
  let pod: string | undefined;
  let container = nonEmpty("container");
  if (positionals.length > 2) throw new UsageError(MISSING_POD);
  if (positionals.length >= 1) pod = podName(positionals[0]!);
  if (positionals.length === 2) {
    if (container !== undefined) throw new UsageError(`the container is given twice: -c ${container} and ${positionals[1]}`);
    container = positionals[1]!;
    if (container === "") throw new UsageError("the container name must not be empty");
  }
  const selector = nonEmpty("selector");
  if (pod === undefined && selector === undefined) throw new UsageError(MISSING_POD);
  if (pod !== undefined && selector !== undefined) throw new UsageError("only a selector (-l) or a POD name is allowed");
  if (booleans.get("all-containers") && container !== undefined) {
    // kubectl's words; without -c every container is read anyway.
    throw new UsageError(`--all-containers=true should not be specified with container name ${container}`);
  }

  const since = nonEmpty("since");
  if (since !== undefined && !DURATION.test(since)) {
    throw new UsageError(`invalid argument "${since}" for --since: expected a duration such as 10s, 5m, 1h, 2d, 1w or 1h30m`);
  }
  const sinceTime = nonEmpty("since-time");
  if (sinceTime !== undefined && parseRfc3339(sinceTime) === undefined) {
    throw new UsageError(
      `invalid argument "${sinceTime}" for --since-time: expected an RFC 3339 time such as 2018-05-03T12:04:57Z`,
    );
  }
  if (since !== undefined && sinceTime !== undefined) throw new UsageError("at most one of --since or --since-time may be given");

  let tail: number | undefined;
  const tailText = strings.get("tail");
  if (tailText !== undefined) {
    if (!/^-?\d+$/.test(tailText) || !Number.isSafeInteger(Number(tailText))) {
      throw new UsageError(`invalid argument "${tailText}" for --tail: expected a whole number (-1 for all lines)`);
    }
    tail = Number(tailText);
    if (tail < -1) throw new UsageError(`invalid argument "${tailText}" for --tail: must be -1 (all lines) or more`);
  }

  return {
    server: serverUrl(strings.get("server") ?? nonBlank(env.KUBE_INSIGHT_SERVER) ?? DEFAULT_SERVER),
    ...credentials(strings.get("token"), strings.get("user"), env),
    ...tenantOf(strings.get("tenant") ?? nonBlank(env.KUBE_INSIGHT_TENANT)),
    namespace: nonEmpty("namespace") ?? DEFAULT_NAMESPACE,
    ...(pod !== undefined && { pod }),
    ...(container !== undefined && { container }),
    ...(selector !== undefined && { selector }),
    ...(since !== undefined && { since }),
    ...(sinceTime !== undefined && { sinceTime }),
    ...(tail !== undefined && { tail }),
    follow: booleans.get("follow") ?? false,
    timestamps: booleans.get("timestamps") ?? false,
    prefix: booleans.get("prefix") ?? false,
    grep,
  };
}

const nonBlank = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

/** NAME or pod/NAME (kubectl's TYPE/NAME; only pods have logs of their own here). */
function podName(arg: string): string {
  const slash = arg.indexOf("/");
  if (slash < 0) {
    if (arg === "") throw new UsageError("the POD name must not be empty");
    return arg;
  }
  const type = arg.slice(0, slash);
  const name = arg.slice(slash + 1);
  if (!POD_TYPES.has(type.toLowerCase())) {
    throw new UsageError(
      `cannot read logs of ${arg}: only pods are supported (POD or pod/NAME); select other workloads' pods with -l`,
    );
  }
  if (name === "" || name.includes("/")) throw new UsageError(`invalid pod "${arg}": expected pod/NAME`);
  return name;
}

function serverUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid argument "${text}" for --server: expected a URL such as ${DEFAULT_SERVER}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`invalid argument "${text}" for --server: expected an http:// or https:// URL`);
  }
  if (url.search !== "" || url.hash !== "")
    throw new UsageError(`invalid argument "${text}" for --server: expected no query or fragment`);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

/** Flags win over the environment; one kind of credential only, so none is silently ignored. */
function tenantOf(tenant: string | undefined): { tenant?: string } {
  if (tenant === undefined) return {};
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,149}$/.test(tenant)) {
    throw new UsageError(`invalid argument "${tenant}" for --tenant: letters, digits, '.', '_' and '-'`);
  }
  return { tenant };
}

function credentials(
  tokenFlag: string | undefined,
  userFlag: string | undefined,
  env: Record<string, string | undefined>,
): { token?: string; user?: string } {
  if (tokenFlag !== undefined && userFlag !== undefined) throw new UsageError("give --token or --user, not both");
  let token = tokenFlag;
  let user = userFlag;
  if (token === undefined && user === undefined) {
    token = nonBlank(env.KUBE_INSIGHT_TOKEN);
    user = nonBlank(env.KUBE_INSIGHT_USER);
    if (token !== undefined && user !== undefined) {
      throw new UsageError("both KUBE_INSIGHT_TOKEN and KUBE_INSIGHT_USER are set: set one, or give --token or --user");
    }
  }
  if (token === "") throw new UsageError(`invalid argument "" for --token: must not be empty`);
  // The password is never echoed back.
  if (user !== undefined && !/^[^:]+:/.test(user)) throw new UsageError("invalid argument for --user: expected USER:PASSWORD");
  return { ...(token !== undefined && { token }), ...(user !== undefined && { user }) };
}
