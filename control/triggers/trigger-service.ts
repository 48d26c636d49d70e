// What the API does with triggers and invoke keys: validate, keep them through the Store (which checks
// that the function exists in the same atomic step), and describe them with their last fires. The
// components that act on triggers — the cron schedule, the storage dispatcher, the function URL's http
// settings — never ask this service on an event: they hold their own view, refreshed on the store's
// change notices.

import { randomBytes, randomUUID } from 'node:crypto';
import { StratusError, functionNotFound } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Store } from '../../core/store/store.js';
import type { InvokeKeyRecord, TriggerFire } from '../../core/store/triggers.js';
import { hashInvokeKey } from '../../core/invocation-contract.js';
import { HTTP_TRIGGER_ID, MAX_TRIGGERS_PER_FUNCTION, parseTrigger, type TriggerRecord, type TriggerSpec } from '../../core/triggers.js';

const INVOKE_KEY_PREFIX = 'stk_';
/** Invoke keys per function: enough for a key per caller, bounded because every replica holds them in memory. */
export const MAX_INVOKE_KEYS = 100;

/** A fire as the API shows it: with the state of the invocation it queued, when that is still known. */
export type FireView = TriggerFire & { invocation: { status: string; link: string } | null };

export interface TriggerServiceDeps {
  store: Store;
  clock: Clock;
  /** The async invocation's status by id ('queued', 'running', 'succeeded', 'failed', 'dead'), null when no longer kept. */
  invocationStatus(id: string): Promise<string | null>;
  /** Upcoming fire times of a cron trigger (from its scheduler), for GET …/triggers/:id. */
  nextFires?(triggerId: string): string[] | undefined;
}


export class TriggerService {
  constructor(private readonly deps: TriggerServiceDeps) {}

  async create(fn: string, body: unknown): Promise<TriggerRecord> {
    const spec = parseTrigger(body, 'body');
    const record = this.#record(fn, spec);
    const result = await this.deps.store.createTrigger(record, MAX_TRIGGERS_PER_FUNCTION);
    if (result === 'no-function') throw functionNotFound(fn);
    if (result === 'full') {
      throw new StratusError('CONFLICT', `function ${fn} has ${MAX_TRIGGERS_PER_FUNCTION} triggers, the most it can have; delete one first`, { function: fn, limit: MAX_TRIGGERS_PER_FUNCTION });
    }
    if (result === 'exists') {
      throw new StratusError('CONFLICT', `function ${fn} already has an http trigger (its URL's settings); change it with PUT /v1/functions/${fn}/triggers/http`, { function: fn, trigger: HTTP_TRIGGER_ID });
    }
    return record;
  }

  /**
   * Sets a function URL's http settings (auth, methods, CORS), replacing the ones it has in one atomic step:
   * the URL is never without them in between (a key-protected URL never public), and the function's other
   * triggers are not touched.
   */
  async setHttp(fn: string, body: unknown): Promise<TriggerRecord> {
    const spec = parseTrigger(body, 'body');
    if (spec.type !== 'http') throw new StratusError('INVALID_REQUEST', 'PUT …/triggers/http takes an http trigger: {"type":"http",…}; add other triggers with POST …/triggers', { field: 'body.type' });
    const record = this.#record(fn, spec);
    const result = await this.deps.store.putTrigger(record, MAX_TRIGGERS_PER_FUNCTION);
    if (result === 'no-function') throw functionNotFound(fn);
    if (result === 'full') {
      throw new StratusError('CONFLICT', `function ${fn} has ${MAX_TRIGGERS_PER_FUNCTION} triggers, the most it can have; delete one first`, { function: fn, limit: MAX_TRIGGERS_PER_FUNCTION });
    }
    return record;
  }

  /**
   * The deploy config's `triggers` list replaces the function's triggers. A trigger equal to one it already
   * has keeps that one's id, and so its fires: redeploying the same config changes nothing.
   */
  async declare(fn: string, specs: TriggerSpec[]): Promise<TriggerRecord[]> {
    const existing = await this.deps.store.listTriggers(fn);
    const unclaimed = [...existing];
    const records = specs.map((spec) => {
      const same = unclaimed.findIndex((t) => sameSpec(t, spec));
      return same === -1 ? this.#record(fn, spec) : unclaimed.splice(same, 1)[0]!;
    });
    if (!(await this.deps.store.replaceTriggers(fn, records))) throw functionNotFound(fn);
    return records;
  }

  async list(fn: string): Promise<TriggerRecord[]> {
    await this.#requireFunction(fn);
    return this.deps.store.listTriggers(fn);
  }

  listAll(): Promise<TriggerRecord[]> {
    return this.deps.store.listTriggers();
  }

  async get(fn: string, id: string): Promise<TriggerRecord & { fires: FireView[]; next?: string[] }> {
    const trigger = (await this.list(fn)).find((t) => t.id === id);
    if (!trigger) throw triggerNotFound(fn, id);
    const fires = await Promise.all((await this.deps.store.listTriggerFires(id)).map((f) => this.#view(f)));
    const next = trigger.type === 'cron' ? this.deps.nextFires?.(trigger.id) : undefined;
    return { ...trigger, fires, ...(next ? { next } : {}) };
  }

  async remove(fn: string, id: string): Promise<void> {
    await this.#requireFunction(fn);
    if (!(await this.deps.store.deleteTrigger(fn, id))) throw triggerNotFound(fn, id);
  }

  /** Issues an invoke key; the key itself is in the answer only. */
  async createKey(fn: string, name: string | null): Promise<InvokeKeyRecord & { key: string }> {
    const key = `${INVOKE_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: InvokeKeyRecord = { id: randomUUID(), function: fn, sha256: hashInvokeKey(key), prefix: key.slice(0, INVOKE_KEY_PREFIX.length + 6), name, createdAt: this.#now() };
    const result = await this.deps.store.putInvokeKey(record, MAX_INVOKE_KEYS);
    if (result === 'no-function') throw functionNotFound(fn);
    if (result === 'full') {
      throw new StratusError('CONFLICT', `function ${fn} has ${MAX_INVOKE_KEYS} invoke keys, the most it can have; revoke one first`, { function: fn, limit: MAX_INVOKE_KEYS });
    }
    return { ...record, key };
  }

  async listKeys(fn: string): Promise<InvokeKeyRecord[]> {
    await this.#requireFunction(fn);
    return this.deps.store.listInvokeKeys(fn);
  }

  async revokeKey(fn: string, id: string): Promise<void> {
    await this.#requireFunction(fn);
    if (!(await this.deps.store.deleteInvokeKey(fn, id))) {
      throw new StratusError('NOT_FOUND', `function ${fn} has no invoke key ${JSON.stringify(id.slice(0, 100))}; list them with GET /v1/functions/${fn}/keys`, { function: fn });
    }
  }

  async #view(f: TriggerFire): Promise<FireView> {
    if (!f.invocationId) return { ...f, invocation: null };
    const status = await this.deps.invocationStatus(f.invocationId).catch(() => null);
    return { ...f, invocation: status === null ? null : { status, link: `/v1/invocations/${f.invocationId}` } };
  }

  #record(fn: string, spec: TriggerSpec): TriggerRecord {
    return { id: spec.type === 'http' ? HTTP_TRIGGER_ID : randomUUID(), function: fn, createdAt: this.#now(), ...spec };
  }

  async #requireFunction(fn: string): Promise<void> {
    if (!(await this.deps.store.getFunction(fn))) throw functionNotFound(fn);
  }

  #now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}

function sameSpec(t: TriggerRecord, spec: TriggerSpec): boolean {
  const { id: _id, function: _fn, createdAt: _at, ...rest } = t;
  return JSON.stringify(canonical(rest)) === JSON.stringify(canonical(spec));
}

/** Objects with their keys sorted, so that two equal specs compare equal whatever the key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]));
  return v;
}

const triggerNotFound = (fn: string, id: string) =>
  new StratusError('TRIGGER_NOT_FOUND', `function ${fn} has no trigger ${JSON.stringify(id.slice(0, 100))}; list them with GET /v1/functions/${fn}/triggers`, { function: fn, trigger: id.slice(0, 100) });
