// Retention per namespace: --retention is the default, --retention-rules overrides it for
// namespaces (and, with tenants, per tenant) by glob, first match wins:
//   kube-system=3d,team-a/*=30d,*-dev=1d,audit=0
// A rule without a slash matches the namespace in every tenant; `tenant/namespace` one tenant's.
// 0 keeps lines forever. Both stores ask the policy for a line's retention when writing and for a
// stream's cutoff when reading, so nothing past its retention is queryable or listed, even before
// Cassandra's TTL or the embedded store's sweep has removed it.

export interface RetentionRule {
  /** Glob over tenant ids; undefined: every tenant. */
  tenant?: string;
  /** Glob over namespaces. */
  namespace: string;
  /** 0: forever. */
  seconds: number;
  /** As written, for messages. */
  text: string;
}

/** The default tenant's id, as rules name it: `-/kube-system=1d` (the default tenant has no name). */
export const DEFAULT_TENANT_IN_RULES = "-";

const DURATION = /^(\d+)([smhdw])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
/** Kubernetes names and tenant ids, plus the glob's `*`. */
const GLOB = /^[A-Za-z0-9_.*-]+$/;

/**
 * The longest retention a rule may give: Cassandra's longest TTL (20 years) less the day its index
 * rows outlive their lines by.
 */
export const MAX_RETENTION_SECONDS = 20 * 365 * 86_400 - 86_400;

function seconds(value: string, rule: string): number {
  const v = value.trim();
  if (v === "0") return 0;
  const m = DURATION.exec(v);
  if (!m) throw new Error(`rule "${rule}": expected a duration such as 3d, 12h or 0 (keep forever), got "${value}"`);
  const s = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (s > MAX_RETENTION_SECONDS) {
    throw new Error(
      `rule "${rule}": at most ${MAX_RETENTION_SECONDS / 86_400}d (Cassandra's longest TTL); use 0 to keep forever`,
    );
  }
  return s;
}

/** Seconds as the rules write them: "3d", "90m", "0" (forever). */
export function formatRetention(seconds: number): string {
  if (seconds === 0) return "0";
  for (const unit of ["w", "d", "h", "m"] as const) {
    if (seconds % UNIT_SECONDS[unit]! === 0) return `${seconds / UNIT_SECONDS[unit]!}${unit}`;
  }
  return `${seconds}s`;
}

/** "kube-system=3d,team-a/*=30d" → rules, in order. Throws naming the rule at fault. */
export function parseRetentionRules(text: string): RetentionRule[] {
  const rules: RetentionRule[] = [];
  for (const raw of text.split(",")) {
    const rule = raw.trim();
    if (rule === "") continue;
    const eq = rule.lastIndexOf("=");
    if (eq <= 0) throw new Error(`rule "${rule}": expected [tenant/]namespace=duration, e.g. kube-system=3d`);
    const target = rule.slice(0, eq).trim();
    const parts = target.split("/");
    if (parts.length > 2) throw new Error(`rule "${rule}": at most one '/' (tenant/namespace)`);
    const [tenant, namespace] = parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, parts[0]!];
    for (const glob of [tenant, namespace]) {
      if (glob !== undefined && glob !== DEFAULT_TENANT_IN_RULES && !GLOB.test(glob)) {
        throw new Error(`rule "${rule}": "${glob}" is not a name or a glob of one (letters, digits, '.', '_', '-', '*')`);
      }
    }
    rules.push({ tenant, namespace, seconds: seconds(rule.slice(eq + 1), rule), text: rule });
  }
  return rules;
}

function globMatcher(glob: string): (s: string) => boolean {
  if (!glob.includes("*")) return (s) => s === glob;
  const re = new RegExp(
    `^${glob
      .split("*")
      .map((p) => p.replace(/[.\\^$+?()[\]{}|-]/g, "\\$&"))
      .join(".*")}$`,
  );
  return (s) => re.test(s);
}

/** The retention of each (tenant, namespace), from the default and the rules. */
export class RetentionPolicy {
  private readonly matchers: { tenant: (t: string) => boolean; namespace: (n: string) => boolean; seconds: number }[];
  private readonly longestIn = new Map<string, number>();
  /** Answers for the pairs seen (bounded: the cache is cleared when it grows past 100,000). */
  private readonly cache = new Map<string, number>();

  constructor(
    /** The default (--retention), seconds; 0: forever. */
    readonly defaultSeconds: number,
    readonly rules: readonly RetentionRule[] = [],
  ) {
    this.matchers = rules.map((r) => ({
      tenant:
        r.tenant === undefined
          ? () => true
          : r.tenant === DEFAULT_TENANT_IN_RULES
            ? (t: string) => t === ""
            : globMatcher(r.tenant),
      namespace: globMatcher(r.namespace),
      seconds: r.seconds,
    }));
  }

  /** True when some line may expire. */
  get expires(): boolean {
    return this.defaultSeconds > 0 || this.rules.some((r) => r.seconds > 0);
  }

  /** True when every line is kept as long as the default says (no rules). */
  get uniform(): boolean {
    return this.rules.length === 0;
  }

  /** Seconds the lines of a namespace are kept; 0: forever. */
  secondsFor(tenant: string, namespace: string): number {
    if (this.matchers.length === 0) return this.defaultSeconds;
    const key = `${tenant}\u0000${namespace}`;
    let found = this.cache.get(key);
    if (found === undefined) {
      found = this.defaultSeconds;
      for (const m of this.matchers) {
        if (m.tenant(tenant) && m.namespace(namespace)) {
          found = m.seconds;
          break;
        }
      }
      if (this.cache.size >= 100_000) this.cache.clear();
      this.cache.set(key, found);
    }
    return found;
  }

  /** The oldest time (ns) still kept for a namespace at `nowNs`; 0n: everything. */
  cutoffNs(tenant: string, namespace: string, nowNs: bigint): bigint {
    const s = this.secondsFor(tenant, namespace);
    return s === 0 ? 0n : nowNs - BigInt(s) * 1_000_000_000n;
  }

  /** The longest retention of any namespace; 0: some are kept forever. */
  longestSeconds(): number {
    let longest = this.defaultSeconds;
    for (const r of this.rules) {
      if (longest === 0 || r.seconds === 0) return 0;
      longest = Math.max(longest, r.seconds);
    }
    return longest;
  }

  /**
   * The longest retention any namespace of a tenant may have (the default and every rule that may
   * apply to the tenant, shadowed or not: an upper bound); 0: some may be kept forever. What an
   * index row shared by a tenant's namespaces (Cassandra's log_stream_days) must live for.
   */
  longestSecondsIn(tenant: string): number {
    if (this.matchers.length === 0) return this.defaultSeconds;
    let found = this.longestIn.get(tenant);
    if (found === undefined) {
      found = this.defaultSeconds;
      for (const m of this.matchers) {
        if (!m.tenant(tenant)) continue;
        if (found === 0 || m.seconds === 0) {
          found = 0;
          break;
        }
        found = Math.max(found, m.seconds);
      }
      if (this.longestIn.size >= 100_000) this.longestIn.clear();
      this.longestIn.set(tenant, found);
    }
    return found;
  }

  /** The distinct non-zero retentions, shortest first (the embedded store sweeps per value). */
  distinctSeconds(): number[] {
    return [...new Set([this.defaultSeconds, ...this.rules.map((r) => r.seconds)].filter((s) => s > 0))].sort((a, b) => a - b);
  }
}
