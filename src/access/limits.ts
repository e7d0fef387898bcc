// Per-tenant limits: ingest rate as token buckets (lines/s and bytes/s), and the longest range a
// query may span. A bucket holds two seconds of its rate. A batch is admitted when the bucket holds
// what it costs, or, for a batch larger than the bucket itself, when the bucket is full; either way
// the whole cost is taken (the bucket may go into debt), so a large batch is never refused forever
// and the long-run rate still holds. Refused batches cost nothing and are answered 429 with the
// seconds until they would fit: Fluent Bit sends them again.
import type { TenantLimits } from "./authfile.ts";

export const BURST_SECONDS = 2;

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly perSecond: number,
    now = performance.now(),
  ) {
    this.tokens = this.capacity;
    this.at = now;
  }

  get capacity(): number {
    return this.perSecond * BURST_SECONDS;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }

  /** Seconds until `cost` would be admitted; 0 when it is admitted now (and taken). */
  wait(cost: number, now = performance.now(), take = true): number {
    this.refill(now);
    const needed = Math.min(cost, this.capacity);
    if (this.tokens >= needed) {
      if (take) this.tokens -= cost;
      return 0;
    }
    return (needed - this.tokens) / this.perSecond;
  }

  take(cost: number): void {
    this.tokens -= cost;
  }
}

export interface IngestVerdict {
  /** Seconds to wait; 0: admitted (and counted). */
  retryAfterSeconds: number;
  /** Which limit refused it. */
  limit?: "lines" | "bytes";
}

/** The limits of each tenant: the defaults (--tenant-*) with the auth file's overrides. */
export class TenantLimiter {
  private readonly buckets = new Map<string, { lines?: TokenBucket; bytes?: TokenBucket; limits: TenantLimits }>();

  constructor(
    private readonly defaults: TenantLimits,
    private overrides: ReadonlyMap<string, Partial<TenantLimits>> = new Map(),
  ) {}

  /** New overrides (an auth file reload): buckets whose rate changed start again. */
  update(overrides: ReadonlyMap<string, Partial<TenantLimits>>): void {
    this.overrides = overrides;
    for (const [tenant, entry] of this.buckets) {
      const limits = this.limitsOf(tenant);
      if (
        limits.ingestLinesPerSecond !== entry.limits.ingestLinesPerSecond ||
        limits.ingestBytesPerSecond !== entry.limits.ingestBytesPerSecond
      ) {
        this.buckets.delete(tenant);
      }
    }
  }

  limitsOf(tenant: string): TenantLimits {
    const o = this.overrides.get(tenant);
    return o === undefined ? this.defaults : { ...this.defaults, ...o };
  }

  /** True when some tenant has an ingest limit. */
  get limitsIngest(): boolean {
    if (this.defaults.ingestLinesPerSecond > 0 || this.defaults.ingestBytesPerSecond > 0) return true;
    for (const o of this.overrides.values())
      if ((o.ingestLinesPerSecond ?? 0) > 0 || (o.ingestBytesPerSecond ?? 0) > 0) return true;
    return false;
  }

  /** Admits (and counts) a batch of `lines` lines of `bytes` bytes, or says how long to wait. */
  admit(tenant: string, lines: number, bytes: number, now = performance.now()): IngestVerdict {
    let entry = this.buckets.get(tenant);
    if (entry === undefined) {
      const limits = this.limitsOf(tenant);
      if (limits.ingestLinesPerSecond === 0 && limits.ingestBytesPerSecond === 0) return { retryAfterSeconds: 0 };
      entry = {
        limits,
        lines: limits.ingestLinesPerSecond > 0 ? new TokenBucket(limits.ingestLinesPerSecond, now) : undefined,
        bytes: limits.ingestBytesPerSecond > 0 ? new TokenBucket(limits.ingestBytesPerSecond, now) : undefined,
      };
      // Tenants are bounded by the auth file or by what clients name; a bucket is small either way,
      // but a flood of made-up tenant ids must not grow this without end.
      if (this.buckets.size >= 100_000) this.buckets.clear();
      this.buckets.set(tenant, entry);
    }
    // Both must admit before either is taken.
    const lineWait = entry.lines?.wait(lines, now, false) ?? 0;
    const byteWait = entry.bytes?.wait(bytes, now, false) ?? 0;
    if (lineWait > 0 || byteWait > 0) {
      return lineWait >= byteWait
        ? { retryAfterSeconds: lineWait, limit: "lines" }
        : { retryAfterSeconds: byteWait, limit: "bytes" };
    }
    entry.lines?.take(lines);
    entry.bytes?.take(bytes);
    return { retryAfterSeconds: 0 };
  }
}
