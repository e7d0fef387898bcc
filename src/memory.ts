// Keeps resident memory bounded without stopping every client for a collection. JavaScriptCore
// collects on its own, concurrently, sizing its heap by the machine's RAM (BUN_JSC_forceRAMSize
// tells it the container's instead: the Containerfile and `bun run start` set it). A forced full
// collection stops the event loop (10 to 20 ms at ingest load here), so it is kept for the one
// case JavaScriptCore handles badly: a single huge body, whose garbage (the wire bytes, the
// decompressed bytes, the text, then the records) is hundreds of MB at once. Measured on one
// 64 MiB gzip body: peak RSS 563 MB without the collection, 367 MB with it.

/** Bodies that decode to at least this many bytes are followed by a full collection. */
export const LARGE_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Called after a body is decoded (its bytes and text are garbage, its records alive) and again
 * once its request is done (the records are garbage too): collects if the body was huge, so that
 * the next huge body does not find the last one's garbage still there.
 */
export function collectAfterLargeBody(decodedBytes: number): void {
  if (decodedBytes >= LARGE_BODY_BYTES) Bun.gc(true);
}
