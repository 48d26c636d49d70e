// Delivery records: one per event and channel, with every attempt (when, how long, the receiver's status
// code or the error, when the next one is due), listed by GET /v1/notifications. The DeliveryLog seam
// has two implementations side by side: Redis (under the platform's prefix, so every replica sees the
// same list) and memory. Both keep a bounded number per function and drop records after a week.

import type { Redis } from 'ioredis';
import type { ChannelKind } from './channel.js';
import type { NotifyEventKind } from '../../core/ports/notifier.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];

export interface DeliveryAttempt {
  attempt: number;
  /** ISO 8601, when it started. */
  at: string;
  durationMs: number;
  ok: boolean;
  /** HTTP status (webhook) or SMTP reply code (email); null when no answer came. */
  statusCode: number | null;
  error: string | null;
  /** When the next attempt is due; null when this one was the last. */
  nextAttemptAt: string | null;
}

export interface DeliveryRecord {
  id: string;
  event: { id: string; kind: NotifyEventKind; function: string; version: number | null; time: string; summary: string };
  channel: ChannelKind;
  /** 'global': a channel of the environment (STRATUS_NOTIFY_*); 'function': the function's own `notify`. */
  owner: 'global' | 'function';
  target: string;
  status: DeliveryStatus;
  maxAttempts: number;
  attempts: DeliveryAttempt[];
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryQuery {
  function?: string;
  status?: DeliveryStatus;
  limit: number;
}

export interface DeliveryLog {
  /** A new delivery, listed first from now on. */
  add(record: DeliveryRecord): Promise<void>;
  /** The same delivery after an attempt. */
  update(record: DeliveryRecord): Promise<void>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** Newest first. */
  list(query: DeliveryQuery): Promise<DeliveryRecord[]>;
}

/** Deliveries listed per function (and in all), and how long one is kept. */
export const DELIVERIES_KEPT = 1000;
export const DELIVERY_MAX_AGE_MS = 7 * 86_400_000;

const ALL = '';

export class MemoryDeliveryLog implements DeliveryLog {
  readonly #records = new Map<string, DeliveryRecord>();
  /** Ids newest first, per function and in all (key ''). */
  readonly #lists = new Map<string, string[]>();

  constructor(private readonly now: () => number = Date.now) {}

  async add(record: DeliveryRecord): Promise<void> {
    this.#records.set(record.id, structuredClone(record));
    for (const key of [ALL, record.event.function]) {
      const ids = this.#lists.get(key) ?? [];
      ids.unshift(record.id);
      for (const gone of ids.splice(DELIVERIES_KEPT)) if (key === ALL) this.#records.delete(gone);
      this.#lists.set(key, ids);
    }
  }

  async update(record: DeliveryRecord): Promise<void> {
    if (this.#records.has(record.id)) this.#records.set(record.id, structuredClone(record));
  }

  async get(id: string): Promise<DeliveryRecord | null> {
    const r = this.#records.get(id);
    return r && this.#fresh(r) ? structuredClone(r) : null;
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    const ids = this.#lists.get(q.function ?? ALL) ?? [];
    const out: DeliveryRecord[] = [];
    for (const id of ids) {
      const r = this.#records.get(id);
      if (r && this.#fresh(r) && (!q.status || r.status === q.status)) out.push(structuredClone(r));
      if (out.length >= q.limit) break;
    }
    return out;
  }

  #fresh(r: DeliveryRecord): boolean {
    return Date.parse(r.createdAt) > this.now() - DELIVERY_MAX_AGE_MS;
  }
}

/** Keys: PREFIXnotify:delivery:ID (the record, JSON, expiring), PREFIXnotify:list: and …:list:FN (ids, newest first). */
export class RedisDeliveryLog implements DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async add(record: DeliveryRecord): Promise<void> {
    const tx = this.redis.multi().set(this.#key(record.id), JSON.stringify(record), 'PX', DELIVERY_MAX_AGE_MS);
    for (const list of [this.#list(ALL), this.#list(record.event.function)]) {
      tx.lpush(list, record.id).ltrim(list, 0, DELIVERIES_KEPT - 1).pexpire(list, DELIVERY_MAX_AGE_MS);
    }
    await tx.exec();
  }

  async update(record: DeliveryRecord): Promise<void> {
    // XX: a record that expired meanwhile is not brought back without its place in the lists.
    await this.redis.set(this.#key(record.id), JSON.stringify(record), 'PX', DELIVERY_MAX_AGE_MS, 'XX');
  }

  async get(id: string): Promise<DeliveryRecord | null> {
    const raw = await this.redis.get(this.#key(id));
    return raw ? (JSON.parse(raw) as DeliveryRecord) : null;
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    // Without a status filter the first `limit` ids are enough; with one, the whole (bounded) list is read.
    const ids = await this.redis.lrange(this.#list(q.function ?? ALL), 0, q.status ? DELIVERIES_KEPT - 1 : q.limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.#key(id)));
    const records = raws.flatMap((raw) => (raw ? [JSON.parse(raw) as DeliveryRecord] : []));
    return records.filter((r) => !q.status || r.status === q.status).slice(0, q.limit);
  }

  #key(id: string): string {
    return `${this.prefix}notify:delivery:${id}`;
  }

  #list(fn: string): string {
    return `${this.prefix}notify:list:${fn}`;
  }
}
