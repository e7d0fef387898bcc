// Server-Sent Events, read as the HTML standard's "event stream interpretation" says: lines end
// in CRLF, LF or CR; a blank line dispatches; `:` starts a comment; `field: value` (one space
// after the colon dropped); data lines join with "\n".
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
import { AnswerError } from "./rows.ts";

export interface SseEvent {
  /** The `event:` field, "message" when none was given. */
  type: string;
  data: string;
  /** The last `id:` seen, as the standard keeps it across events. */
  id: string;
}

/** A line this long (characters) is not an event stream the client can use. */
const MAX_LINE_CHARS = 64 * 1024 * 1024;

const LINE_END = /[\r\n]/g;

export class SseParser {
  /** The start of a line whose end has not arrived yet. */
  private partial = "";
  /** The last piece ended in CR: a LF starting the next one belongs to the same line end. */
  private afterCr = false;
  private type = "";
  private data: string[] = [];
  private lastId = "";

  /** Feeds decoded text; returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let i = 0;
    if (this.afterCr && text.startsWith("\n")) i = 1;
    this.afterCr = false;
    while (i < text.length) {
      LINE_END.lastIndex = i;
      const m = LINE_END.exec(text);
      if (m === null) break;
      const line = this.partial + text.slice(i, m.index);
      this.partial = "";
      i = m.index + 1;
      if (m[0] === "\r") {
        if (i < text.length) {
          if (text[i] === "\n") i++;
        } else this.afterCr = true;
      }
      this.line(line, events);
    }
    if (i < text.length) {
      this.partial += text.slice(i);
      if (this.partial.length > MAX_LINE_CHARS)
        throw new AnswerError(`an event stream line is longer than ${MAX_LINE_CHARS} characters`);
    }
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") {
      if (!value.includes("\0")) this.lastId = value;
    }
    // "retry" and unknown fields: the contract fixes the reconnection delay, so nothing to keep.
  }

  private dispatch(events: SseEvent[]): void {
    if (this.data.length > 0) events.push({ type: this.type || "message", data: this.data.join("\n"), id: this.lastId });
    this.data = [];
    this.type = "";
  }
}
