// When a crashed server is started again: 1 s, 2 s, 4 s … up to a cap, back to the start
// once a server has stayed up for a while, and never again after too many crashes in a row.

export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Longest delay. */
  maxMs: number;
  /** A server that ran this long before it crashed resets the delay. */
  stableMs: number;
  /** Give up after this many crashes in a row. */
  maxCrashes: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 1000,
  maxMs: 60_000,
  stableMs: 180_000,
  maxCrashes: 8,
};

export type CrashDecision =
  | { restart: true; delayMs: number; crashes: number; first: boolean }
  | { restart: false; crashes: number; first: boolean };

export class Backoff {
  private crashes = 0;
  private startedAt: number | undefined;
  private told = false;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly now: () => number = Date.now,
  ) {}

  /** The server (re)started. */
  started(): void {
    this.startedAt = this.now();
  }

  /** The user restarted the server by hand: start counting afresh. */
  reset(): void {
    this.crashes = 0;
  }

  /** The server died unexpectedly: what to do. `first` is true only the first time this
   *  session, so the user is told once. */
  crashed(): CrashDecision {
    const ranFor = this.startedAt === undefined ? 0 : this.now() - this.startedAt;
    this.startedAt = undefined;
    if (ranFor >= this.options.stableMs) {
      this.crashes = 0;
    }
    this.crashes += 1;
    const first = !this.told;
    this.told = true;
    if (this.crashes > this.options.maxCrashes) {
      return { restart: false, crashes: this.crashes, first };
    }
    const delayMs = Math.min(this.options.maxMs, this.options.initialMs * 2 ** (this.crashes - 1));
    return { restart: true, delayMs, crashes: this.crashes, first };
  }
}
