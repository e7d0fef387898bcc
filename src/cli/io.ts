// What the `logs` client needs from the world, gathered so that tests can run it in-process.
import { stdoutSink, type TextSink } from "./format.ts";

export interface FollowTiming {
  /** Between two reconnection attempts (the contract: every second). */
  retryEveryMs: number;
  /** Reconnection stops after the server has been away this long. */
  giveUpAfterMs: number;
  /** No byte, not even a heartbeat (every 15 s), for this long: the connection is dead. */
  idleTimeoutMs: number;
}

export interface LogsIo {
  stdout: TextSink;
  /** Text for stderr, each line ending in "\n". */
  stderr: (text: string) => void;
  /** Calls `stop` on Ctrl-C; returns a function that stops listening. */
  onInterrupt: (stop: () => void) => () => void;
  fetch: (url: URL, init: RequestInit & { timeout?: number | boolean }) => Promise<Response>;
  timing: FollowTiming;
}

export const DEFAULT_TIMING: FollowTiming = {
  retryEveryMs: 1000,
  giveUpAfterMs: 5 * 60_000,
  idleTimeoutMs: 45_000,
};

/** A client-side failure: printed as `error: <message>`, exit 1. */
export class ClientError extends Error {}

export function processIo(): LogsIo {
  return {
    stdout: stdoutSink(),
    stderr: (text) => void process.stderr.write(text),
    onInterrupt: (stop) => {
      process.once("SIGINT", stop);
      return () => process.off("SIGINT", stop);
    },
    fetch: (url, init) => fetch(url, init),
    timing: DEFAULT_TIMING,
  };
}
