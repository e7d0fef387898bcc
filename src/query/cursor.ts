// Cursors: where a merged answer stopped (the last row's time, stream, seq and id), tied to the
// query that made it, as an opaque token. A cursor continues after that row exactly: every stream
// resumes at the row's time, before or after it by the merge order.
import { containerKey } from "../store/lines.ts";
import type { Direction, Position, StreamRef } from "../store/store.ts";

export interface Cursor {
  /** The tenant's fingerprint (tenantFingerprint): a cursor serves only its own tenant. */
  tenant: string;
  /** The query's fingerprint (queryFingerprint): a cursor serves only its own query. */
  query: string;
  timeNs: bigint;
  /** containerKey() of the last row's stream. */
  stream: string;
  seq: number;
  id: bigint;
}

export class CursorError extends Error {
  override readonly name = "CursorError";
}

/** A cursor made for another tenant: a refusal (403), not a malformed request. */
export class ForeignCursorError extends CursorError {}

const VERSION = 2;

export function encodeCursor(c: Cursor): string {
  const body = JSON.stringify([VERSION, c.tenant, c.query, String(c.timeNs), c.stream, c.seq, String(c.id)]);
  return Buffer.from(body, "utf8").toString("base64url");
}

/**
 * The tenant a cursor was made for, as a keyed hash: a cursor neither shows its tenant nor can be
 * forged for another tenant without the server's key.
 */
export function tenantFingerprint(tenant: string): string {
  return new Bun.CryptoHasher("sha256", CURSOR_KEY).update(tenant).digest("base64url").slice(0, 22);
}

/** Per process: cursors are for paging now, not for keeping. A restart asks for a new first page. */
const CURSOR_KEY = crypto.getRandomValues(new Uint8Array(32));

/** Decodes a cursor and checks that it belongs to `tenant` and `query`. */
export function decodeCursor(token: string, query: string, tenant: string): Cursor {
  let parts: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error("not base64url");
    parts = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw new CursorError("the cursor does not decode: pass the next_cursor of a previous answer as it is");
  }
  if (
    !Array.isArray(parts) ||
    parts.length !== 7 ||
    parts[0] !== VERSION ||
    typeof parts[1] !== "string" ||
    typeof parts[2] !== "string" ||
    typeof parts[3] !== "string" ||
    typeof parts[4] !== "string" ||
    typeof parts[5] !== "number" ||
    !Number.isSafeInteger(parts[5]) ||
    typeof parts[6] !== "string" ||
    !/^-?\d{1,20}$/.test(parts[3]) ||
    !/^-?\d{1,20}$/.test(parts[6])
  ) {
    throw new CursorError("the cursor does not decode: pass the next_cursor of a previous answer as it is");
  }
  if (parts[1] !== tenantFingerprint(tenant)) throw new ForeignCursorError("the cursor was made for another tenant");
  if (parts[2] !== query) throw new CursorError("the cursor belongs to another query (selector, filters or direction differ)");
  return { tenant: parts[1], query: parts[2], timeNs: BigInt(parts[3]), stream: parts[4], seq: parts[5], id: BigInt(parts[6]) };
}

/** A query's identity for its cursors: what decides its order and its rows, not its time bounds. */
export function queryFingerprint(parts: string[]): string {
  return Bun.hash.wyhash(parts.join("\u0000")).toString(36);
}

const MAX_ID = (1n << 63n) - 1n;
const MIN_ID = -(1n << 63n);

/**
 * Where one stream resumes after a cursor. At the cursor's time, streams are merged in key order
 * (forward) or reverse key order (backward): a stream whose key sorts before the cursor's has
 * given its rows of that time in forward order and not yet in backward order, and the other way
 * round. Both come out as the same positions, since "after" reverses with the direction.
 */
export function resumeAt(cursor: Cursor, stream: StreamRef, _direction: Direction): Position {
  const key = containerKey(stream);
  if (key === cursor.stream) return { timeNs: cursor.timeNs, seq: cursor.seq, id: cursor.id };
  return key < cursor.stream
    ? { timeNs: cursor.timeNs, seq: Number.MAX_SAFE_INTEGER, id: MAX_ID }
    : { timeNs: cursor.timeNs, seq: -1, id: MIN_ID };
}
