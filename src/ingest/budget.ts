// The in-flight budget of ingest: how many bytes of request bodies, decompressed bodies and the
// records decoded from them may be in memory at once (--max-inflight-bytes). A request takes its
// share before each step that allocates; when the budget is spent it waits briefly, in arrival
// order, then gives up with OverloadedError (429 with Retry-After, which Fluent Bit retries).

/** Ingest is over its in-flight budget: the client should retry shortly. */
export class OverloadedError extends Error {
  override readonly name = "OverloadedError";
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

interface Waiter {
  bytes: number;
  /** What the waiter already holds. */
  own: number;
  grant: () => void;
}

export class ByteBudget {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Takes `bytes` for a holder that has `own` already, waiting up to `waitMs` for room. Resolves
   * false when there was none by then. A share larger than the whole budget is granted when
   * nobody else holds any, or it could never pass.
   */
  async take(bytes: number, waitMs: number, own = 0): Promise<boolean> {
    if (bytes <= 0) return true;
    if (this.waiting.length === 0 && this.fits(bytes, own)) {
      this.used += bytes;
      return true;
    }
    if (waitMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        bytes,
        own,
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(waiter);
        if (at !== -1) this.waiting.splice(at, 1);
        // The head of the queue may have been blocking smaller shares behind it.
        this.wake();
        resolve(false);
      }, waitMs);
      this.waiting.push(waiter);
    });
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.used -= bytes;
    this.wake();
  }

  private fits(bytes: number, own: number): boolean {
    return this.used + bytes <= this.limit || this.used === own;
  }

  /** Grants waiting shares in arrival order while they fit. */
  private wake(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes, this.waiting[0]!.own)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.grant();
    }
  }
}

/** One request's share of the budget: grows step by step, given back whole at the end. */
export class Lease {
  private held = 0;

  constructor(
    private readonly budget: ByteBudget,
    private readonly waitMs: number,
  ) {}

  /** Takes `bytes` more, or throws OverloadedError once the wait is over. */
  async grow(bytes: number, what: string): Promise<void> {
    if (!(await this.budget.take(bytes, this.waitMs, this.held))) {
      throw new OverloadedError(
        `ingest is over its in-flight budget (--max-inflight-bytes ${this.budget.limit}): ` +
          `${what} needs ${bytes} bytes, ${this.budget.inUse} are in use; retry shortly`,
      );
    }
    this.held += bytes;
  }

  /** Gives back what is no longer needed (never below zero). */
  shrink(bytes: number): void {
    const back = Math.min(bytes, this.held);
    this.held -= back;
    this.budget.give(back);
  }

  release(): void {
    this.shrink(this.held);
  }
}
