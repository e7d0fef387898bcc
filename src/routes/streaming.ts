// Streaming answers: rows from a store's pages rendered one by one into a JSON document, sent in
// chunks of about CHUNK_BYTES, so that a large result never sits in memory, as one string or
// otherwise. The first page is read before the answer starts: a store that fails at once is a
// clean error status; one that fails later cuts the connection (the headers are sent), so that a
// client sees an error, never a silently shortened answer.

/** Bytes of rendered text gathered before they are handed to the connection. */
export const CHUNK_BYTES = 64 * 1024;

const finished = new WeakMap<Response, Promise<void>>();

/** Settles when a streamed answer's body has been sent (or cut); undefined for other answers. */
export function bodySent(response: Response): Promise<void> | undefined {
  return finished.get(response);
}

export interface StreamShape<T, R = unknown> {
  /** Text before the first row, and after the last (from the pages' return value, if any). */
  open: string;
  close: string | ((result: R | undefined) => string);
  render: (row: T) => string;
  /** Called once, when the body is complete, cut by an error (given) or abandoned by the client. */
  done: (rows: number, error?: unknown) => void;
  headers?: Record<string, string>;
}

export async function streamed<T, R = unknown>(
  pages: AsyncIterable<T[]> | AsyncIterator<T[], R>,
  shape: StreamShape<T, R>,
): Promise<Response> {
  const iterator = Symbol.asyncIterator in pages ? pages[Symbol.asyncIterator]() : pages;
  // The first page decides the status: a failure before any row is thrown to the error mapping.
  let pending: IteratorResult<T[], R> | undefined = await iterator.next();
  let rows = 0;
  let separator = "";
  let settle!: () => void;
  const sent = new Promise<void>((resolve) => (settle = resolve));
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    shape.done(rows, error);
    settle();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(Buffer.from(shape.open));
    },
    async pull(controller) {
      try {
        const page = pending ?? (await iterator.next());
        pending = undefined;
        if (page.done) {
          controller.enqueue(Buffer.from(typeof shape.close === "string" ? shape.close : shape.close(page.value)));
          controller.close();
          end();
          return;
        }
        let chunk = "";
        for (const row of page.value) {
          chunk += separator + shape.render(row);
          separator = ",";
          rows++;
          if (chunk.length >= CHUNK_BYTES) {
            // Buffer.from encodes a large string several times faster than TextEncoder here.
            controller.enqueue(Buffer.from(chunk));
            chunk = "";
          }
        }
        if (chunk !== "") controller.enqueue(Buffer.from(chunk));
      } catch (error) {
        end(error);
        // Erroring the stream cuts the connection, so that the client sees a failure. Done at
        // once, before Bun has sent the headers, Bun 1.4 also prints the error and its stack to
        // stderr, outside the JSON log (end() logged it already): a turn of the event loop first.
        await new Promise((resolve) => setTimeout(resolve, 0));
        controller.error(error);
      }
    },
    async cancel() {
      end();
      await iterator.return?.();
    },
  });
  const response = new Response(body, {
    headers: { "content-type": "application/json; charset=utf-8", ...shape.headers },
  });
  finished.set(response, sent);
  return response;
}
