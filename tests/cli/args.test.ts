// `logs` argument parsing: kubectl's spellings, defaults, and the usage errors (exit 2).
import { describe, expect, test } from "bun:test";
import { DEFAULT_SERVER, MISSING_POD, parseLogsArgs, UsageError, type LogsOptions } from "../../src/cli/args.ts";

const parse = (argv: string[], env: Record<string, string> = {}): LogsOptions => {
  const o = parseLogsArgs(argv, env);
  if (o === "help") throw new Error("unexpected help");
  return o;
};

const usageError = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseLogsArgs(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
};

describe("defaults", () => {
  test("a bare POD: namespace default, the local server, nothing else", () => {
    expect(parse(["web-1"])).toEqual({
      server: `${DEFAULT_SERVER}/`,
      namespace: "default",
      pod: "web-1",
      follow: false,
      timestamps: false,
      prefix: false,
      grep: [],
    });
  });

  test("the environment gives the server and the credentials; flags win over it", () => {
    const env = { KUBE_INSIGHT_SERVER: "http://logs.example:9000", KUBE_INSIGHT_TOKEN: "env-token" };
    expect(parse(["p"], env)).toMatchObject({ server: "http://logs.example:9000/", token: "env-token" });
    expect(parse(["p", "--server", "https://other/prefix", "--token", "flag-token"], env)).toMatchObject({
      server: "https://other/prefix/",
      token: "flag-token",
    });
    // A --user flag replaces the environment's token rather than adding to it.
    const withUser = parse(["p", "--user", "ann:secret"], env);
    expect(withUser.user).toBe("ann:secret");
    expect(withUser.token).toBeUndefined();
    expect(parse(["p"], { KUBE_INSIGHT_USER: "bob:pw" }).user).toBe("bob:pw");
    expect(parse(["p"], { KUBE_INSIGHT_SERVER: "" }).server).toBe(`${DEFAULT_SERVER}/`);
  });

  test("--help and -h", () => {
    expect(parseLogsArgs(["--help"], {})).toBe("help");
    expect(parseLogsArgs(["-h"], {})).toBe("help");
    expect(parseLogsArgs(["pod", "-f", "--help"], {})).toBe("help");
  });
});

describe("every flag form", () => {
  const forms: [string, string[], Partial<LogsOptions>][] = [
    ["-n NS", ["-n", "kube-system", "p"], { namespace: "kube-system" }],
    ["-nNS", ["-nkube-system", "p"], { namespace: "kube-system" }],
    ["-n=NS", ["-n=kube-system", "p"], { namespace: "kube-system" }],
    ["--namespace NS", ["--namespace", "kube-system", "p"], { namespace: "kube-system" }],
    ["--namespace=NS", ["--namespace=kube-system", "p"], { namespace: "kube-system" }],
    ["-c", ["p", "-c", "nginx"], { container: "nginx" }],
    ["--container=", ["p", "--container=nginx"], { container: "nginx" }],
    ["-l", ["-l", "app=web,tier!=db"], { selector: "app=web,tier!=db" }],
    ["--selector=", ['--selector=app=~"a|b,c"'], { selector: 'app=~"a|b,c"' }],
    ["-f", ["p", "-f"], { follow: true }],
    ["--follow", ["--follow", "p"], { follow: true }],
    ["--follow=false", ["p", "--follow=false"], { follow: false }],
    ["-f then --follow=false", ["p", "-f", "--follow=false"], { follow: false }],
    ["--tail N", ["p", "--tail", "20"], { tail: 20 }],
    ["--tail=N", ["p", "--tail=20"], { tail: 20 }],
    ["--tail -1", ["p", "--tail", "-1"], { tail: -1 }],
    ["--tail=0", ["p", "--tail=0"], { tail: 0 }],
    ["--since 1h", ["p", "--since", "1h"], { since: "1h" }],
    ["--since=1h30m", ["p", "--since=1h30m"], { since: "1h30m" }],
    [
      "--since-time",
      ["p", "--since-time", "2018-05-03T12:04:57.094408152+02:00"],
      { sinceTime: "2018-05-03T12:04:57.094408152+02:00" },
    ],
    ["--timestamps", ["p", "--timestamps"], { timestamps: true }],
    ["--timestamps=true", ["p", "--timestamps=true"], { timestamps: true }],
    ["--prefix", ["p", "--prefix"], { prefix: true }],
    ["--all-containers", ["p", "--all-containers"], {}],
    ["--grep twice", ["p", "--grep", "err", "--grep=time(out)?"], { grep: ["err", "time(out)?"] }],
    ["--server", ["p", "--server", "http://10.0.0.1:8080"], { server: "http://10.0.0.1:8080/" }],
    ["--token", ["p", "--token=abc"], { token: "abc" }],
    ["--user", ["p", "--user", "ann:pa:ss"], { user: "ann:pa:ss" }],
    ["grouped -fn", ["-fn", "kube-system", "p"], { follow: true, namespace: "kube-system" }],
    ["pod/NAME", ["pod/web-1"], { pod: "web-1" }],
    ["pods/NAME", ["pods/web-1"], { pod: "web-1" }],
    ["po/NAME", ["po/web-1"], { pod: "web-1" }],
    ["POD CONTAINER (kubectl's older form)", ["web-1", "nginx"], { pod: "web-1", container: "nginx" }],
    ["flags after --", ["--", "-odd-pod"], { pod: "-odd-pod" }],
    ["a string flag given twice: the last wins", ["p", "-n", "a", "-n", "b"], { namespace: "b" }],
  ];
  for (const [name, argv, want] of forms) {
    test(name, () => {
      expect(parse(argv)).toMatchObject(want);
    });
  }

  test("--all-containers leaves the container out (every container of the pod)", () => {
    expect(parse(["p", "--all-containers"]).container).toBeUndefined();
  });
});

describe("usage errors", () => {
  test("no POD and no -l: kubectl's words", () => {
    expect(usageError([])).toBe(MISSING_POD);
    expect(usageError(["-n", "ns", "-f"])).toBe(MISSING_POD);
    expect(MISSING_POD).toBe("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'");
  });

  const cases: [string[], RegExp][] = [
    [["a", "b", "c"], /expected 'logs/],
    [["p", "-l", "app=x"], /only a selector \(-l\) or a POD name is allowed/],
    [["p", "--bogus"], /^unknown flag: --bogus$/],
    [["p", "-x"], /^unknown shorthand flag: 'x' in -x$/],
    [["p", "-p"], /unknown shorthand flag: 'p'/], // --previous: there are no previous containers here
    [["p", "--tail"], /^flag needs an argument: --tail$/],
    [["p", "-n"], /^flag needs an argument: 'n' in -n$/],
    [["p", "--tail=abc"], /invalid argument "abc" for --tail/],
    [["p", "--tail=1.5"], /invalid argument "1.5" for --tail/],
    [["p", "--tail=-2"], /must be -1 \(all lines\) or more/],
    [["p", "--since=1x"], /invalid argument "1x" for --since/],
    [["p", "--since=-1h"], /for --since/],
    [["p", "--since-time=yesterday"], /invalid argument "yesterday" for --since-time/],
    [["p", "--since=1h", "--since-time=2018-05-03T12:04:57Z"], /at most one of --since or --since-time/],
    [["p", "-c", "nginx", "--all-containers"], /--all-containers=true should not be specified with container name nginx/],
    [["p", "nginx", "-c", "other"], /container is given twice/],
    [["p", "--follow=maybe"], /invalid argument "maybe" for --follow/],
    [["deployment/web"], /only pods are supported/],
    [["pod/"], /expected pod\/NAME/],
    [["-n", "", "p"], /for --namespace: must not be empty/],
    [["p", "--server", "localhost:8080"], /for --server: expected an http:\/\/ or https:\/\/ URL/],
    [["p", "--server", "not a url"], /for --server/],
    [["p", "--user", "nopassword"], /expected USER:PASSWORD/],
    [["p", "--token", "t", "--user", "u:p"], /--token or --user, not both/],
  ];
  for (const [argv, want] of cases) {
    test(argv.join(" ") || "(nothing)", () => {
      expect(usageError(argv)).toMatch(want);
    });
  }

  test("both credentials in the environment is refused rather than one silently picked", () => {
    expect(usageError(["p"], { KUBE_INSIGHT_TOKEN: "t", KUBE_INSIGHT_USER: "u:p" })).toMatch(
      /both KUBE_INSIGHT_TOKEN and KUBE_INSIGHT_USER/,
    );
    // a flag settles it
    expect(parse(["p", "--token", "x"], { KUBE_INSIGHT_TOKEN: "t", KUBE_INSIGHT_USER: "u:p" }).token).toBe("x");
  });

  test("the password is never echoed in an error", () => {
    expect(usageError(["p", "--user", "s3cret-no-colon"])).not.toContain("s3cret");
  });
});
