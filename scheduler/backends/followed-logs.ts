// The bookkeeping every container backend needs to follow what its instances write: which instances are
// followed (for which function and version), who listens, and when a stream is open. A stream is opened
// only while someone listens (a platform that collects no logs pays nothing); when the last listener goes,
// every stream ends and a later subscriber follows from then on. A stream ends by itself when its instance
// stops and is never reopened (it would replay everything); untrack() lets it finish its last bytes for a
// moment (a crash's stderr is what a user most needs), close() ends every stream at once.
// A backend supplies only how to open one instance's stream from a point in time, and how to abort it.

import type { Logger } from '../../core/log.js';
import type { InstanceLogLine } from './backend.js';

type Listener = (entry: InstanceLogLine) => void;

/** How long an untracked instance's stream may still deliver its last lines. */
const LINGER_MS = 1000;

/** What a backend reads of a followed instance: live, so a stem that specializes mid-stream reports its function. */
export interface FollowedInstance<Since> {
  readonly instanceId: string;
  readonly function: string | null;
  readonly version: number | null;
  /** Where the next stream starts (in the backend's own terms); `fromStart` = from the instance's start. */
  readonly since: Since;
}

interface Followed<Since, Stream> {
  instanceId: string;
  function: string | null;
  version: number | null;
  since: Since;
  stream: Stream | null;
  opening: boolean;
  /** The instance's stream ended (it stopped): never reopened, it would replay everything. */
  ended: boolean;
  linger: NodeJS.Timeout | null;
  /** A failed open is tried again after retryMs while someone listens (backends that retry). */
  retry: NodeJS.Timeout | null;
}

export abstract class FollowedLogs<Since, Stream> {
  readonly #followed = new Map<string, Followed<Since, Stream>>();
  readonly #listeners = new Set<Listener>();
  #closed = false;

  constructor(
    protected readonly log: Logger,
    /** The `since` of an instance Stratus started itself: all it wrote. */
    private readonly fromStart: Since,
    /** After a failed open (not "gone"), try again this much later; null: do not. */
    private readonly retryMs: number | null = null,
  ) {}

  /**
   * Opens the instance's stream from `f.since`, reporting its lines through emit(). `ended` is called when the
   * stream ends by itself (after its last line). Resolves null when the instance is gone: nothing more to follow.
   */
  protected abstract openStream(f: FollowedInstance<Since>, ended: () => void): Promise<Stream | null>;
  /** Ends a stream; it reports nothing afterwards and does not call its `ended`. */
  protected abstract abortStream(stream: Stream): void;
  /** Now, as a `since`. */
  protected abstract sinceNow(): Since;
  /** An open failed for another reason than "gone": the backend logs it in its own words. */
  protected abstract openFailed(f: FollowedInstance<Since>, err: unknown): void;

  /** An instance to follow: one Stratus started (from its start), or one found running (`since` = now). */
  track(instanceId: string, fn: string | null, version: number | null, since: Since = this.fromStart): void {
    if (this.#closed) return;
    const known = this.#followed.get(instanceId);
    if (known) {
      if (fn !== null) this.specialize(instanceId, fn, version);
      return;
    }
    const f: Followed<Since, Stream> = { instanceId, function: fn, version, since, stream: null, opening: false, ended: false, linger: null, retry: null };
    this.#followed.set(instanceId, f);
    if (this.#listeners.size > 0) void this.#open(f);
  }

  /** A stem now serves a function: its next lines are that function's. */
  specialize(instanceId: string, fn: string, version: number | null): void {
    const f = this.#followed.get(instanceId);
    if (!f) return;
    f.function = fn;
    f.version = version;
  }

  /** The instance is being removed: its stream may deliver its last lines, briefly. */
  untrack(instanceId: string): void {
    const f = this.#followed.get(instanceId);
    if (!f || f.linger) return;
    if (!f.stream) {
      this.#drop(f);
      return;
    }
    f.linger = setTimeout(() => this.#drop(f), LINGER_MS);
    f.linger.unref();
  }

  subscribe(listener: Listener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) for (const f of this.#followed.values()) if (!f.linger) void this.#open(f);
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      // Nobody listens any more: end the streams; a later subscriber follows from then on.
      const now = this.sinceNow();
      for (const f of this.#followed.values()) {
        this.#stop(f);
        f.since = now;
      }
    };
  }

  /** Number of open streams (tests check that nothing is left). */
  get openStreams(): number {
    let n = 0;
    for (const f of this.#followed.values()) if (f.stream) n++;
    return n;
  }

  close(): void {
    this.#closed = true;
    for (const f of this.#followed.values()) {
      if (f.linger) clearTimeout(f.linger);
      this.#stop(f);
    }
    this.#followed.clear();
    this.#listeners.clear();
  }

  protected emit(entry: InstanceLogLine): void {
    for (const l of this.#listeners) {
      try {
        l(entry);
      } catch (err) {
        this.log.error('log listener threw', { error: err as Error });
      }
    }
  }

  async #open(f: Followed<Since, Stream>): Promise<void> {
    if (f.stream || f.opening || f.ended) return;
    f.opening = true;
    let stream: Stream | null = null;
    const ended = () => {
      // Only the stream this instance still has: an aborted or replaced one says nothing about it.
      if (stream === null || f.stream !== stream) return;
      f.stream = null;
      f.ended = true;
      if (f.linger) this.#drop(f);
    };
    try {
      stream = await this.openStream(f, ended);
    } catch (err) {
      this.openFailed(f, err);
      this.#retryLater(f);
      return;
    } finally {
      f.opening = false;
    }
    if (stream === null) {
      f.ended = true;
      return;
    }
    if (!this.#wanted(f)) {
      this.abortStream(stream);
      return;
    }
    if (!f.ended) f.stream = stream;
  }

  #retryLater(f: Followed<Since, Stream>): void {
    if (this.retryMs === null || f.retry || this.#closed) return;
    // From where this stream was to start (the instance's start, or when it was found): nothing written meanwhile is lost.
    f.retry = setTimeout(() => {
      f.retry = null;
      if (this.#wanted(f) && !f.linger) void this.#open(f);
    }, this.retryMs);
    f.retry.unref();
  }

  /** Still worth a stream: not closed, someone listens, and `f` is still the instance's entry. */
  #wanted(f: Followed<Since, Stream>): boolean {
    return !this.#closed && this.#listeners.size > 0 && this.#followed.get(f.instanceId) === f;
  }

  #stop(f: Followed<Since, Stream>): void {
    if (f.retry) clearTimeout(f.retry);
    f.retry = null;
    const s = f.stream;
    f.stream = null;
    if (s) this.abortStream(s);
  }

  #drop(f: Followed<Since, Stream>): void {
    if (f.linger) clearTimeout(f.linger);
    f.linger = null;
    this.#stop(f);
    if (this.#followed.get(f.instanceId) === f) this.#followed.delete(f.instanceId);
  }
}
