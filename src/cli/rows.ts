// GET /query's answer, read as it streams: `{"log_rows":[{...},{...}],"next_cursor":"..."}` is
// split into the text of each row object, so that a large range is never held whole; each row
// is then JSON.parse'd on its own.

/** A row as the contract sends it; the pod fields come when the query is not pinned to one container. */
export interface LogRow {
  time: string;
  log: string;
  stream?: string;
  namespace?: string;
  pod_name?: string;
  container_name?: string;
}

/** The answer is not the contract's shape (or ended early). */
export class AnswerError extends Error {}

/** One row's text may be this long (characters): a very long line, escaped, fits many times over. */
const MAX_ROW_CHARS = 64 * 1024 * 1024;
/** Everything but the rows ({"log_rows":[], "next_cursor": ...}) is small. */
const MAX_OUTER_CHARS = 1024 * 1024;

// Inside a row only these characters change the nesting or the string state.
const STRUCTURAL = /[{}[\]"]/g;
const STRING_END_OR_ESCAPE = /["\\]/g;
const ROWS_KEY_BEFORE = /"log_rows"\s*:\s*$/;

type Where = "outer" | "rows" | "row";

export class RowSplitter {
  private where: Where = "outer";
  /** The answer without its rows, JSON-parsed at the end for next_cursor. */
  private outer = "";
  private outerDepth = 0;
  private outerInString = false;
  private outerEscape = false;
  private rowsSeen = false;
  /** In the rows array: a row is due (after "[" or ","), else a "," or "]" is. */
  private rowDue = true;
  private firstRow = true;
  private rowParts: string[] = [];
  private rowChars = 0;
  private rowDepth = 0;
  private rowInString = false;
  private rowEscape = false;

  /** Feeds the next piece of the answer; returns the complete rows' texts it finished. */
  push(text: string): string[] {
    const rows: string[] = [];
    let i = 0;
    while (i < text.length) {
      if (this.where === "row") i = this.scanRow(text, i, rows);
      else if (this.where === "rows") i = this.scanRows(text, i);
      else i = this.scanOuter(text, i);
    }
    return rows;
  }

  /** The answer has ended: checks that it was complete and returns its next_cursor, if any. */
  end(): { nextCursor?: string } {
    if (!this.rowsSeen) throw new AnswerError("the answer has no log_rows");
    if (this.where !== "outer" || this.outerDepth !== 0) throw new AnswerError("the answer ended early (cut off)");
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.outer);
    } catch (e) {
      throw new AnswerError(`the answer is not valid JSON: ${(e as Error).message}`);
    }
    const cursor = (parsed as { next_cursor?: unknown }).next_cursor;
    if (cursor === undefined || cursor === null) return {};
    if (typeof cursor !== "string") throw new AnswerError("next_cursor is not a string");
    return { nextCursor: cursor };
  }

  /** Outside the rows: string-aware, until `[` opens the value of "log_rows". */
  private scanOuter(text: string, i: number): number {
    const start = i;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (this.outerInString) {
        if (this.outerEscape) this.outerEscape = false;
        else if (c === "\\") this.outerEscape = true;
        else if (c === '"') this.outerInString = false;
      } else if (c === '"') this.outerInString = true;
      else if (c === "[" && this.outerDepth === 1 && !this.rowsSeen && ROWS_KEY_BEFORE.test(this.outer + text.slice(start, i))) {
        this.appendOuter(text.slice(start, i) + "[]");
        this.rowsSeen = true;
        this.where = "rows";
        return i + 1;
      } else if (c === "{" || c === "[") this.outerDepth++;
      else if (c === "}" || c === "]") this.outerDepth--;
    }
    this.appendOuter(text.slice(start));
    return i;
  }

  private appendOuter(s: string): void {
    this.outer += s;
    if (this.outer.length > MAX_OUTER_CHARS)
      throw new AnswerError('the answer is not {"log_rows":[...]} (too much around the rows)');
  }

  /** Between rows: whitespace, then a row's `{`, a `,` or the closing `]`. */
  private scanRows(text: string, i: number): number {
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
      if (this.rowDue && c === "{") {
        this.where = "row";
        this.rowDepth = 0;
        this.rowDue = false;
        this.firstRow = false;
        return i; // scanRow counts this brace
      }
      if (!this.rowDue && c === ",") this.rowDue = true;
      else if (c === "]" && (!this.rowDue || this.firstRow)) {
        this.where = "outer";
        return i + 1;
      } else throw new AnswerError(`unexpected ${JSON.stringify(c)} in log_rows`);
    }
    return i;
  }

  /** Inside a row: finds where its braces balance, jumping from one structural character to the next. */
  private scanRow(text: string, i: number, rows: string[]): number {
    const start = i;
    while (i < text.length) {
      if (this.rowEscape) {
        this.rowEscape = false;
        i++;
        continue;
      }
      const pattern = this.rowInString ? STRING_END_OR_ESCAPE : STRUCTURAL;
      pattern.lastIndex = i;
      const m = pattern.exec(text);
      if (m === null) break;
      i = m.index + 1;
      const c = m[0];
      if (this.rowInString) {
        if (c === "\\") this.rowEscape = true;
        else this.rowInString = false;
      } else if (c === '"') this.rowInString = true;
      else if (c === "{" || c === "[") this.rowDepth++;
      else if (--this.rowDepth === 0) {
        this.rowParts.push(text.slice(start, i));
        rows.push(this.rowParts.join(""));
        this.rowParts = [];
        this.rowChars = 0;
        this.where = "rows";
        return i;
      }
    }
    const rest = text.slice(start);
    this.rowParts.push(rest);
    this.rowChars += rest.length;
    if (this.rowChars > MAX_ROW_CHARS) throw new AnswerError(`a row is longer than ${MAX_ROW_CHARS} characters`);
    return text.length;
  }
}

/** A row's text as a LogRow, its fields checked (a row the client cannot print is an error). */
export function parseRow(text: string): LogRow {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (e) {
    throw new AnswerError(`a row is not valid JSON: ${(e as Error).message}`);
  }
  const r = row as Record<string, unknown>;
  if (typeof r !== "object" || r === null || typeof r.time !== "string" || typeof r.log !== "string") {
    throw new AnswerError(`a row has no time or log: ${text.slice(0, 200)}`);
  }
  return r as unknown as LogRow;
}
