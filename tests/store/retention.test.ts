// --retention-rules: parsing (errors name the rule at fault) and the policy every store and the
// ingest path ask for a namespace's retention.
import { describe, expect, test } from "bun:test";
import { formatRetention, MAX_RETENTION_SECONDS, parseRetentionRules, RetentionPolicy } from "../../src/store/retention.ts";

const HOUR = 3600;
const DAY = 86_400;

describe("parseRetentionRules", () => {
  test("rules in order, with or without a tenant, globs kept as written", () => {
    expect(parseRetentionRules(" kube-system=3d, team-a/*=30d ,-/x=1h,*-dev=12h,audit=0,,")).toEqual([
      { tenant: undefined, namespace: "kube-system", seconds: 3 * DAY, text: "kube-system=3d" },
      { tenant: "team-a", namespace: "*", seconds: 30 * DAY, text: "team-a/*=30d" },
      { tenant: "-", namespace: "x", seconds: HOUR, text: "-/x=1h" },
      { tenant: undefined, namespace: "*-dev", seconds: 12 * HOUR, text: "*-dev=12h" },
      { tenant: undefined, namespace: "audit", seconds: 0, text: "audit=0" },
    ]);
    expect(parseRetentionRules("")).toEqual([]);
    expect(parseRetentionRules("a=90s,b=2w,c=5m")).toMatchObject([{ seconds: 90 }, { seconds: 14 * DAY }, { seconds: 300 }]);
  });

  test("errors name the rule at fault", () => {
    const cases: [string, RegExp][] = [
      ["kube-system=3d,team-a=3 days", /rule "team-a=3 days": expected a duration/],
      ["kube-system", /rule "kube-system": expected \[tenant\/\]namespace=duration/],
      ["=3d", /rule "=3d": expected \[tenant\/\]namespace=duration/],
      ["ok=1d,x=", /rule "x=": expected a duration/],
      ["a/b/c=1d", /rule "a\/b\/c=1d": at most one '\/'/],
      ["/ns=1d", /rule "\/ns=1d": "" is not a name/],
      ["t/=1d", /rule "t\/=1d": "" is not a name/],
      ["kube system=1d", /rule "kube system=1d": "kube system" is not a name/],
      ["ns=-1d", /rule "ns=-1d": expected a duration/],
      ["ns=1y", /rule "ns=1y": expected a duration/],
      ["ns=7400d", /rule "ns=7400d": at most 7299d/],
    ];
    for (const [text, message] of cases) expect(() => parseRetentionRules(text), text).toThrow(message);
    expect(parseRetentionRules(`ns=${MAX_RETENTION_SECONDS}s`)[0]!.seconds).toBe(MAX_RETENTION_SECONDS);
  });
});

describe("RetentionPolicy", () => {
  test("the first rule that matches wins; none: the default", () => {
    const p = new RetentionPolicy(7 * DAY, parseRetentionRules("kube-system=3d,kube-*=1d,*=30d"));
    expect(p.secondsFor("", "kube-system")).toBe(3 * DAY);
    expect(p.secondsFor("", "kube-public")).toBe(DAY);
    expect(p.secondsFor("", "web")).toBe(30 * DAY);
    expect(new RetentionPolicy(7 * DAY, parseRetentionRules("kube-system=3d")).secondsFor("", "web")).toBe(7 * DAY);
  });

  test("a rule without a tenant holds in every tenant; '-' names the default tenant; tenant globs", () => {
    const p = new RetentionPolicy(DAY, parseRetentionRules("-/x=1h,team-*/x=2h,x=3h"));
    expect(p.secondsFor("", "x")).toBe(HOUR);
    expect(p.secondsFor("team-a", "x")).toBe(2 * HOUR);
    expect(p.secondsFor("other", "x")).toBe(3 * HOUR);
    expect(p.secondsFor("-", "x")).toBe(3 * HOUR); // a tenant named "-" is not the default tenant
    expect(p.secondsFor("team-a", "y")).toBe(DAY);
  });

  test("glob characters other than * are literal", () => {
    const p = new RetentionPolicy(0, parseRetentionRules("a.b=1h"));
    expect(p.secondsFor("", "a.b")).toBe(HOUR);
    expect(p.secondsFor("", "axb")).toBe(0);
  });

  test("cutoffs: now less the retention; 0n when kept forever", () => {
    const p = new RetentionPolicy(DAY, parseRetentionRules("audit=0"));
    const now = 10n ** 18n;
    expect(p.cutoffNs("", "web", now)).toBe(now - 86_400_000_000_000n);
    expect(p.cutoffNs("", "audit", now)).toBe(0n);
  });

  test("what the stores derive: expiry, the longest retention (per tenant), the distinct ones", () => {
    const none = new RetentionPolicy(0);
    expect([none.expires, none.uniform, none.longestSeconds(), none.distinctSeconds()]).toEqual([false, true, 0, []]);
    const uniform = new RetentionPolicy(7 * DAY);
    expect([uniform.expires, uniform.uniform, uniform.longestSeconds()]).toEqual([true, true, 7 * DAY]);
    const rules = new RetentionPolicy(7 * DAY, parseRetentionRules("kube-system=1h,team-a/*=30d,-/audit=0"));
    expect([rules.expires, rules.uniform]).toEqual([true, false]);
    expect(rules.longestSeconds()).toBe(0);
    expect(rules.distinctSeconds()).toEqual([HOUR, 7 * DAY, 30 * DAY]);
    expect(rules.longestSecondsIn("")).toBe(0);
    expect(rules.longestSecondsIn("team-a")).toBe(30 * DAY);
    expect(rules.longestSecondsIn("team-b")).toBe(7 * DAY);
    expect(new RetentionPolicy(0, parseRetentionRules("kube-system=1h")).expires).toBe(true);
    expect(new RetentionPolicy(0, parseRetentionRules("kube-system=0")).expires).toBe(false);
  });

  test("durations print as rules write them", () => {
    expect([0, 90, 300, HOUR, DAY, 14 * DAY, 36 * HOUR].map(formatRetention)).toEqual([
      "0",
      "90s",
      "5m",
      "1h",
      "1d",
      "2w",
      "36h",
    ]);
  });
});
