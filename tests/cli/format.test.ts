// Output as kubectl prints it: the text; --timestamps; --prefix (before the timestamp); both.
import { describe, expect, test } from "bun:test";
import { formatLine, Output } from "../../src/cli/format.ts";
import type { LogRow } from "../../src/cli/rows.ts";

const T = "2018-05-03T12:04:57.094408152Z";
const unpinned: LogRow = {
  time: T,
  log: "hello",
  stream: "stdout",
  namespace: "shop",
  pod_name: "web-1",
  container_name: "nginx",
};
const plain = { timestamps: false, prefix: false };

describe("formatLine", () => {
  test("plain: the text and one newline", () => {
    expect(formatLine(unpinned, plain)).toBe("hello\n");
  });

  test("a line's own newline is not doubled; other trailing whitespace is kept", () => {
    expect(formatLine({ ...unpinned, log: "with newline\n" }, plain)).toBe("with newline\n");
    expect(formatLine({ ...unpinned, log: "crlf\r\n" }, plain)).toBe("crlf\r\n");
    expect(formatLine({ ...unpinned, log: "two\n\n" }, plain)).toBe("two\n\n");
    expect(formatLine({ ...unpinned, log: "tab\t" }, plain)).toBe("tab\t\n");
    expect(formatLine({ ...unpinned, log: "" }, plain)).toBe("\n");
  });

  test("--timestamps: the time as the server sent it, then a space", () => {
    expect(formatLine(unpinned, { timestamps: true, prefix: false })).toBe(`${T} hello\n`);
  });

  test("--prefix: [pod/POD/CONTAINER] from the row", () => {
    expect(formatLine(unpinned, { timestamps: false, prefix: true })).toBe("[pod/web-1/nginx] hello\n");
  });

  test("--prefix --timestamps: the prefix first, as kubectl", () => {
    expect(formatLine({ ...unpinned, log: "x\n" }, { timestamps: true, prefix: true })).toBe(`[pod/web-1/nginx] ${T} x\n`);
  });

  test("a pinned query's rows carry no pod: the prefix names the pod and container asked for", () => {
    const pinned: LogRow = { time: T, log: "hi", stream: "stderr" };
    expect(formatLine(pinned, { timestamps: false, prefix: true, pod: "web-2", container: "app" })).toBe("[pod/web-2/app] hi\n");
  });
});

describe("Output", () => {
  test("collects lines and writes them in one piece, in order", async () => {
    const written: string[] = [];
    const out = new Output(async (t) => void written.push(t));
    out.add("a\n");
    out.add("b\n");
    expect(written).toEqual([]);
    await out.flush();
    await out.flush(); // nothing pending: no empty write
    expect(written).toEqual(["a\nb\n"]);
  });

  test("says when it is worth flushing early", () => {
    const out = new Output(async () => {});
    out.add("x".repeat(1000));
    expect(out.full).toBe(false);
    out.add("x".repeat(300_000));
    expect(out.full).toBe(true);
  });

  test("a failing sink surfaces as an OutputError carrying the code", async () => {
    const out = new Output(async () => {
      throw Object.assign(new Error("broken pipe"), { code: "EPIPE" });
    });
    out.add("x\n");
    await expect(out.flush()).rejects.toMatchObject({ code: "EPIPE", message: "cannot write the output: broken pipe" });
  });
});
