// Byte counts with a bound, and reservations against several of them at once: an upload reserves its
// bytes in its bucket's count and the total (the quotas), and a multipart part in its upload's count too
// (the object size bound). A reservation is checked and taken in one synchronous step — no await between
// the check and the addition — so concurrent requests in this process cannot both pass a bound that only
// one of them fits under. The storage is one process's (its objects are on this node's disk), so this
// process is the only writer of these counts; they are derived from the disk again at start.

import { S3Error } from './errors.js';

export class Tally {
  /** Bytes held: stored (objects, parts) and reserved by writes in flight. */
  used = 0;

  constructor(
    /** null: unbounded. */
    readonly limit: number | null,
    /** The error when a reservation of `wanted` bytes would pass the limit (given the bytes used before it). */
    private readonly refusal: (wanted: number, used: number, limit: number) => S3Error,
  ) {}

  refuse(wanted: number): S3Error {
    return this.refusal(wanted, this.used, this.limit!);
  }

  /** Whether `n` more bytes fit, counting `leaving` bytes the write will give back when it commits. */
  fits(n: number, leaving = 0): boolean {
    return this.limit === null || n <= 0 || this.used + n - leaving <= this.limit;
  }
}

/** Adds `n` bytes to every tally (negative: gives them back); never refuses (stored bytes are facts). */
export function count(tallies: readonly Tally[], n: number): void {
  for (const t of tallies) t.used += n;
}

/** Bytes held for one write in flight; released when the write ends, whichever way. */
export class Reservation {
  #bytes = 0;
  #done = false;

  constructor(
    private readonly tallies: readonly Tally[],
    /** Bytes a tally gets back when this write commits (a re-sent part replaces the previous copy's). */
    private readonly leaving: (t: Tally) => number = () => 0,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** Reserves `n` more bytes, or throws the first bound's error and reserves nothing. */
  grow(n: number): void {
    if (this.#done) throw new Error('reservation already released');
    const over = this.tallies.find((t) => !t.fits(n, this.leaving(t)));
    if (over) throw over.refuse(n);
    count(this.tallies, n);
    this.#bytes += n;
  }

  /** Gives the bytes back; safe to call more than once. */
  release(): void {
    if (this.#done) return;
    this.#done = true;
    count(this.tallies, -this.#bytes);
    this.#bytes = 0;
  }
}
