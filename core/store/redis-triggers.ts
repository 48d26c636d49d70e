// The Redis half of the TriggerStore (triggers.ts) that RedisStore delegates to. Layout under the prefix:
//   triggers:<fn>          hash  trigger id -> TriggerRecord JSON
//   trigger-fires:<id>     list  TriggerFire JSON, newest first, trimmed to TRIGGER_FIRES_KEPT
//   invoke-keys:<fn>       hash  key id -> InvokeKeyRecord JSON (the key's SHA-256, never the key)
//   lease:<key>            string, SET NX PX: held by one replica until it expires
// A write that needs the function to exist checks and writes in one Lua script, so a trigger or key can
// never be left behind by a delete racing it; the change is published on the function-changes channel in
// the same script.

import type { Redis } from 'ioredis';
import type { TriggerRecord } from '../triggers.js';
import { TRIGGER_FIRES_KEPT, type CreateResult, type InvokeKeyRecord, type TriggerFire, type TriggerStore } from './triggers.js';

// KEYS: functions hash, the function's hash of triggers or keys. ARGV: fn, id, json, channel, limit.
// Returns 0: no such function, 2: the id is taken, 3: the function has `limit` entries, 1: added.
const ADD_IF_FUNCTION = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 2 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[5]) then return 3 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1`;
const ADD_RESULT = { 0: 'no-function', 1: 'created', 2: 'exists', 3: 'full' } as const;

// KEYS: functions hash, triggers:<fn>, the trigger's fires. ARGV: fn, id, json, channel, limit.
// Returns 0: no such function, 3: a new trigger past `limit`, 1: added, 4: replaced (its fires dropped).
const PUT_TRIGGER = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local replacing = redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1
if not replacing and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[5]) then return 3 end
if replacing then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
if replacing then return 4 end
return 1`;
const PUT_RESULT = { 0: 'no-function', 1: 'created', 3: 'full', 4: 'replaced' } as const;

// KEYS: functions hash, triggers:<fn>. ARGV: fn, channel, fires-key prefix, then id, json pairs.
const REPLACE_TRIGGERS = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local keep = {}
for i = 4, #ARGV, 2 do keep[ARGV[i]] = true end
for _, id in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not keep[id] then redis.call('DEL', ARGV[3] .. id) end
end
redis.call('DEL', KEYS[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1`;

const byCreation = (a: TriggerRecord, b: TriggerRecord) => a.function.localeCompare(b.function) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

export class RedisTriggers implements TriggerStore {
  constructor(
    private readonly redis: Redis,
    private readonly p: string,
    private readonly channel: string,
    /** Waits until this replica's watchers have taken in a change just published (redis-watch.ts settled). */
    private readonly announced: () => Promise<void>,
  ) {}

  /** The keys deleting function `fn` must remove, read before its transaction (the caller WATCHes triggersKey). */
  async keysOfFunction(fn: string): Promise<string[]> {
    const ids = await this.redis.hkeys(this.triggersKey(fn));
    return [this.triggersKey(fn), `${this.p}invoke-keys:${fn}`, ...ids.map((id) => this.#firesKey(id))];
  }

  triggersKey(fn: string): string {
    return `${this.p}triggers:${fn}`;
  }

  #firesKey(id: string): string {
    return `${this.p}trigger-fires:${id}`;
  }

  async #addIfFunction(hash: string, fn: string, id: string, json: string, limit: number): Promise<CreateResult> {
    const r = (await this.redis.eval(ADD_IF_FUNCTION, 2, `${this.p}functions`, hash, fn, id, json, this.channel, String(limit))) as keyof typeof ADD_RESULT;
    if (ADD_RESULT[r] === 'created') await this.announced();
    return ADD_RESULT[r];
  }

  createTrigger(t: TriggerRecord, limit: number): Promise<CreateResult> {
    return this.#addIfFunction(this.triggersKey(t.function), t.function, t.id, JSON.stringify(t), limit);
  }

  async putTrigger(t: TriggerRecord, limit: number): Promise<(typeof PUT_RESULT)[keyof typeof PUT_RESULT]> {
    const r = (await this.redis.eval(PUT_TRIGGER, 3, `${this.p}functions`, this.triggersKey(t.function), this.#firesKey(t.id), t.function, t.id, JSON.stringify(t), this.channel, String(limit))) as keyof typeof PUT_RESULT;
    if (PUT_RESULT[r] === 'created' || PUT_RESULT[r] === 'replaced') await this.announced();
    return PUT_RESULT[r];
  }

  async replaceTriggers(fn: string, triggers: TriggerRecord[]): Promise<boolean> {
    const pairs = triggers.flatMap((t) => [t.id, JSON.stringify(t)]);
    const replaced = (await this.redis.eval(REPLACE_TRIGGERS, 2, `${this.p}functions`, this.triggersKey(fn), fn, this.channel, `${this.p}trigger-fires:`, ...pairs)) === 1;
    if (replaced) await this.announced();
    return replaced;
  }

  async deleteTrigger(fn: string, id: string): Promise<boolean> {
    const result = await this.redis.multi().hdel(this.triggersKey(fn), id).del(this.#firesKey(id)).exec();
    const removed = result?.[0]?.[1] === 1;
    if (removed) {
      await this.redis.publish(this.channel, fn);
      await this.announced();
    }
    return removed;
  }

  async listTriggers(fn?: string): Promise<TriggerRecord[]> {
    const fns = fn === undefined ? await this.redis.hkeys(`${this.p}functions`) : [fn];
    if (fns.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const f of fns) pipe.hvals(this.triggersKey(f));
    const results = (await pipe.exec()) ?? [];
    const all: TriggerRecord[] = [];
    for (const [err, values] of results) {
      if (err) throw err;
      for (const json of values as string[]) all.push(JSON.parse(json) as TriggerRecord);
    }
    return all.sort(byCreation);
  }

  async recordTriggerFire(triggerId: string, fire: TriggerFire): Promise<void> {
    const key = this.#firesKey(triggerId);
    await this.redis.multi().lpush(key, JSON.stringify(fire)).ltrim(key, 0, TRIGGER_FIRES_KEPT - 1).exec();
  }

  async listTriggerFires(triggerId: string): Promise<TriggerFire[]> {
    return (await this.redis.lrange(this.#firesKey(triggerId), 0, -1)).map((j) => JSON.parse(j) as TriggerFire);
  }

  async claimLease(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.p}lease:${key}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async putInvokeKey(k: InvokeKeyRecord, limit: number): Promise<Exclude<CreateResult, 'exists'>> {
    // Key ids are random UUIDs: 'exists' cannot happen, and would be a bug worth a loud failure.
    const r = await this.#addIfFunction(`${this.p}invoke-keys:${k.function}`, k.function, k.id, JSON.stringify(k), limit);
    if (r === 'exists') throw new Error(`invoke key id ${k.id} is taken`);
    return r;
  }

  async listInvokeKeys(fn: string): Promise<InvokeKeyRecord[]> {
    const all = await this.redis.hvals(`${this.p}invoke-keys:${fn}`);
    return all.map((j) => JSON.parse(j) as InvokeKeyRecord).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async deleteInvokeKey(fn: string, id: string): Promise<boolean> {
    const removed = (await this.redis.hdel(`${this.p}invoke-keys:${fn}`, id)) === 1;
    if (removed) {
      await this.redis.publish(this.channel, fn);
      await this.announced();
    }
    return removed;
  }
}
