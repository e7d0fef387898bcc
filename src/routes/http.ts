// What every route shares: the one error shape, the error classes routes throw, and how each
// failure becomes an HTTP answer. app.ts maps every error in one onError with errorResponseFor.
import { t } from "elysia";
import { IngestError } from "../ingest/decode.ts";
import { OverloadedError } from "../ingest/budget.ts";
import { StoreBusyError, StoreUnavailableError } from "../store/store.ts";

export const ErrorBody = t.Object(
  {
    message: t.String({ description: "What went wrong, for people." }),
    detail: t.String({ description: "Specifics: the parameter, limit or cause involved." }),
  },
  { description: "Every 4xx and 5xx answer has this shape." },
);

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

export function json(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS });
}

export function errorResponse(status: number, message: string, detail: string, headers?: Record<string, string>): Response {
  return json({ message, detail }, status, headers);
}

/** An error a route throws to answer with a status, in the one error shape. */
export class HttpError extends Error {
  override readonly name: string = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly detail: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** A query parameter is missing, repeated or invalid: 400 naming it. */
export class InvalidQueryError extends HttpError {
  override readonly name = "InvalidQueryError";
  constructor(detail: string) {
    super(400, "invalid query", detail);
  }
}

/** Credentials are missing or wrong: 401 with the schemes that are accepted. */
export class UnauthorizedError extends HttpError {
  override readonly name = "UnauthorizedError";
  constructor(detail: string, schemes: string) {
    super(401, "unauthorized", detail, { "www-authenticate": schemes });
  }
}

const CLOSE = { connection: "close" };
const UNREAD_BODY = new Set([408, 413]);

/** The error classes app.ts registers with Elysia (its onError sees them by name). */
export const ERRORS = { HttpError, IngestError, OverloadedError, StoreUnavailableError, StoreBusyError };

/**
 * The answer to an error: the class decides the status. Store trouble is never the client's
 * fault: 503 with Retry-After, so that Fluent Bit keeps the batch and sends it again; overload is
 * 429 with Retry-After (also retried); anything unforeseen is a 500 (retried too).
 */
export function errorResponseFor(error: unknown): Response {
  if (error instanceof HttpError) return errorResponse(error.status, error.message, error.detail, error.headers);
  // A body refused before it was read whole leaves the connection mid-request: close it, or the
  // rest of the body would be read as the next request.
  if (error instanceof IngestError) {
    return errorResponse(error.status, error.message, error.detail, UNREAD_BODY.has(error.status) ? CLOSE : undefined);
  }
  if (error instanceof OverloadedError) {
    return errorResponse(429, "too many requests", error.message, { "retry-after": String(error.retryAfterSeconds), ...CLOSE });
  }
  if (error instanceof StoreUnavailableError) {
    return errorResponse(503, "data store is not available", error.message, {
      "retry-after": String(error.retryAfterSeconds),
    });
  }
  if (error instanceof StoreBusyError) {
    return errorResponse(503, "data store is busy", error.message, { "retry-after": String(error.retryAfterSeconds) });
  }
  const detail = error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
  return errorResponse(500, "internal server error", detail);
}
