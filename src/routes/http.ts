// What every route shares: the one error shape, JSON responses, and the mapping from store
// failures to HTTP. Routes return web-standard Responses.
import { t } from "elysia";
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

/**
 * Store trouble is never the client's fault: 503 with Retry-After, so that Fluent Bit keeps the
 * batch and sends it again. Anything else is a 500 (also retried by Fluent Bit).
 */
export function storeErrorResponse(error: unknown, doing: string): Response {
  if (error instanceof StoreUnavailableError) {
    return errorResponse(503, "data store is not available", error.message, {
      "retry-after": String(error.retryAfterSeconds),
    });
  }
  if (error instanceof StoreBusyError) {
    return errorResponse(503, "data store is busy", error.message, { "retry-after": String(error.retryAfterSeconds) });
  }
  return errorResponse(500, `failed to ${doing}`, (error as Error)?.message ?? String(error));
}
