// Redis Store: the production twin of memory.ts, behaving the same (test/unit/store-contract.test.ts).
// Its keys, all under the platform's prefix, are laid out in redis-keys.ts; function changes are published
// there and followed on a second connection, with read-your-writes on this replica (redis-watch.ts); triggers, leases and invoke keys are
// redis-triggers.ts, metered usage usage-redis.ts.

import type { Redis } from 'ioredis';
import type { CheckReport } from '../check-report.js';
import { Closeable, type Clock } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { createRedisClient, reportRedisErrors } from '../redis-client.js';
import type { BuildRecord, FunctionRecord, LogQuery, LogRecord, VersionRecord } from '../types.js';
import { TERMINAL_BUILD_STATUSES } from '../types.js';
import { LOG_LINES_KEPT, selectLogs, type PushTurn, type Store } from './store.js';
import { selectInvocations, type InvocationQuery, type InvocationRecord, type InvocationRetention } from './invocations.js';
import { storeKeys, type StoreKeys } from './redis-keys.js';
import { RedisTriggers } from './redis-triggers.js';
import { RedisWatch } from './redis-watch.js';
import { adoptLegacyFunctions, LEGACY_PREFIX, type LegacyAdoption } from './redis-legacy.js';
import { readUsage, usageKeys, type UsageKeys } from './usage-redis.js';
import { defineWriteBatch, writeInvocations, type WriteBatch } from './redis-invocations.js';
import { RedisSessions } from './sessions-redis.js';
import type { SessionLimits, SessionStore } from './sessions.js';
import type { UsageRange, UsageRow } from './usage.js';

const LOGS_TTL_S = 7 * 24 * 3600;

const parse = <T>(json: string | null | undefined): T | null => (json ? (JSON.parse(json) as T) : null);

// Compare-and-set of one function record. KEYS: functions hash. ARGV: name, the JSON read ('' when there
// was none), the JSON to write, the change channel. A Lua script rather than WATCH: WATCH state belongs to
// the connection, which every store call shares, so another call's EXEC could clear it unnoticed.
const CAS_FUNCTION = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1`;
// A git push's version in its turn. KEYS: push-turns:<fn>, version-counter:<fn>. ARGV: the push's ticket.
// Returns { 1, version } taken, or { 0, the later ticket that took one, its version }.
const VERSION_IN_TURN = `
local done = tonumber(redis.call('HGET', KEYS[1], 'deployed') or '0')
if done > tonumber(ARGV[1]) then return { 0, done, tonumber(redis.call('HGET', KEYS[1], 'version') or '0') } end
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'deployed', ARGV[1], 'version', v)
return { 1, v }`;

/** Compare-and-set attempts before giving up: only a storm of writes to one function gets this far. */
const CAS_ATTEMPTS = 50;

export interface RedisStoreOptions {
  /** Starts every key and channel (e.g. "stratus-1a2b3c4d5e:"); required so that no caller shares one by accident. */
  prefix: string;
  /** Where connection errors are reported (rate-limited); without one they are dropped. */
  logger?: Logger;
}

export class RedisStore extends Closeable implements Store {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #p: string;
  readonly #k: StoreKeys;
  readonly #usage: UsageKeys;
  readonly #writeBatch: WriteBatch;
  readonly #watch: RedisWatch;
  readonly #triggers: RedisTriggers;

  // Triggers, fires, leases and invoke keys (TriggerStore): redis-triggers.ts.
  readonly createTrigger: RedisTriggers['createTrigger'];
  readonly putTrigger: RedisTriggers['putTrigger'];
  readonly replaceTriggers: RedisTriggers['replaceTriggers'];
  readonly deleteTrigger: RedisTriggers['deleteTrigger'];
  readonly listTriggers: RedisTriggers['listTriggers'];
  readonly recordTriggerFire: RedisTriggers['recordTriggerFire'];
  readonly listTriggerFires: RedisTriggers['listTriggerFires'];
  readonly claimLease: RedisTriggers['claimLease'];
  readonly putInvokeKey: RedisTriggers['putInvokeKey'];
  readonly listInvokeKeys: RedisTriggers['listInvokeKeys'];
  readonly deleteInvokeKey: RedisTriggers['deleteInvokeKey'];

  constructor(client: Redis | string, opts: RedisStoreOptions) {
    super();
    // A client handed in (tests) gets the same error reporting as one made here (core/redis-client.ts).
    this.#redis = typeof client === 'string' ? createRedisClient(client, { name: 'stratus-store', use: 'commands', logger: opts.logger }) : client;
    if (typeof client !== 'string') reportRedisErrors(client, opts.logger);
    this.#p = opts.prefix;
    this.#k = storeKeys(opts.prefix);
    this.#usage = usageKeys(opts.prefix);
    this.#writeBatch = defineWriteBatch(this.#redis);
    this.#watch = new RedisWatch(this.#redis, this.#k.changes);
    const t = (this.#triggers = new RedisTriggers(this.#redis, this.#p, this.#k.changes, () => this.#watch.settled()));
    this.createTrigger = t.createTrigger.bind(t);
    this.putTrigger = t.putTrigger.bind(t);
    this.replaceTriggers = t.replaceTriggers.bind(t);
    this.deleteTrigger = t.deleteTrigger.bind(t);
    this.listTriggers = t.listTriggers.bind(t);
    this.recordTriggerFire = t.recordTriggerFire.bind(t);
    this.listTriggerFires = t.listTriggerFires.bind(t);
    this.claimLease = t.claimLease.bind(t);
    this.putInvokeKey = t.putInvokeKey.bind(t);
    this.listInvokeKeys = t.listInvokeKeys.bind(t);
    this.deleteInvokeKey = t.deleteInvokeKey.bind(t);
  }

  async getFunction(name: string): Promise<FunctionRecord | null> {
    return parse<FunctionRecord>(await this.#redis.hget(this.#k.functions, name));
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    const all = await this.#redis.hvals(this.#k.functions);
    return all.map((j) => JSON.parse(j) as FunctionRecord).sort((a, b) => a.name.localeCompare(b.name));
  }

  async putFunction(fn: FunctionRecord): Promise<void> {
    await this.#redis.multi().hset(this.#k.functions, fn.name, JSON.stringify(fn)).publish(this.#k.changes, fn.name).exec();
    await this.#watch.settled();
  }

  async updateFunction(name: string, mutate: (fn: FunctionRecord | null) => FunctionRecord | null): Promise<FunctionRecord | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const raw = await this.#redis.hget(this.#k.functions, name);
      const next = mutate(parse<FunctionRecord>(raw));
      if (next === null) return null;
      const written = await this.#redis.eval(CAS_FUNCTION, 1, this.#k.functions, name, raw ?? '', JSON.stringify(next), this.#k.changes);
      if (written === 1) {
        await this.#watch.settled();
        return next;
      }
    }
    throw new Error(`could not update function ${name}: it kept changing under ${CAS_ATTEMPTS} attempts`);
  }

  async deleteFunction(name: string): Promise<boolean> {
    const buildsOf = this.#k.buildsOf(name);
    // WATCH makes the MULTI fail if a build or a trigger is added meanwhile; then read the ids again.
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.#redis.watch(buildsOf, this.#triggers.triggersKey(name));
      const ids = await this.#redis.smembers(buildsOf);
      const invs = await this.#redis.zrange(this.#k.invocationsOf(name), '0', '-1');
      const triggerKeys = await this.#triggers.keysOfFunction(name);
      const tx = this.#redis.multi().hdel(this.#k.functions, name).del(this.#k.versions(name), buildsOf, this.#k.logs(name), this.#k.invocationsOf(name), ...triggerKeys);
      if (invs.length > 0) tx.del(...invs.map((id) => this.#k.invocation(id)));
      if (ids.length > 0) {
        tx.del(...ids.flatMap((id) => [this.#k.build(id), this.#k.buildLog(id), this.#k.buildReport(id)]));
        tx.srem(this.#k.buildsUnfinished, ...ids);
      }
      const result = await tx.exec();
      if (result === null) continue;
      const [err, removed] = result[0]!;
      if (err) throw err;
      const existed = removed === 1;
      if (existed) {
        await this.#redis.publish(this.#k.changes, name);
        await this.#watch.settled();
      }
      return existed;
    }
    throw new Error(`could not delete function ${name}: its builds kept changing`);
  }

  async nextVersion(name: string): Promise<number> {
    return this.#redis.incr(this.#k.versionCounter(name));
  }

  async takePushTicket(name: string): Promise<number> {
    return this.#redis.hincrby(this.#k.pushTurns(name), 'issued', 1);
  }

  async nextVersionInTurn(name: string, ticket: number): Promise<PushTurn> {
    const [taken, a, b] = (await this.#redis.eval(VERSION_IN_TURN, 2, this.#k.pushTurns(name), this.#k.versionCounter(name), ticket)) as number[];
    return taken === 1 ? { version: a! } : { passedBy: a!, version: b! };
  }

  async putVersion(v: VersionRecord): Promise<void> {
    await this.#redis.hset(this.#k.versions(v.function), String(v.version), JSON.stringify(v));
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | null> {
    return parse<VersionRecord>(await this.#redis.hget(this.#k.versions(name), String(version)));
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    const all = await this.#redis.hvals(this.#k.versions(name));
    return all.map((j) => JSON.parse(j) as VersionRecord).sort((a, b) => a.version - b.version);
  }

  async putBuild(b: BuildRecord): Promise<void> {
    const tx = this.#redis.multi().set(this.#k.build(b.id), JSON.stringify(b)).sadd(this.#k.buildsOf(b.function), b.id);
    if (TERMINAL_BUILD_STATUSES.includes(b.status)) tx.srem(this.#k.buildsUnfinished, b.id);
    else tx.sadd(this.#k.buildsUnfinished, b.id);
    await tx.exec();
  }

  async getBuild(id: string): Promise<BuildRecord | null> {
    return parse<BuildRecord>(await this.#redis.get(this.#k.build(id)));
  }

  async listUnfinishedBuilds(): Promise<BuildRecord[]> {
    const ids = await this.#redis.smembers(this.#k.buildsUnfinished);
    if (ids.length === 0) return [];
    const all = await this.#redis.mget(ids.map((id) => this.#k.build(id)));
    return all.map((j) => parse<BuildRecord>(j)).filter((b): b is BuildRecord => b !== null && !TERMINAL_BUILD_STATUSES.includes(b.status));
  }

  async appendBuildLog(id: string, text: string): Promise<void> {
    await this.#redis.append(this.#k.buildLog(id), text);
  }

  async readBuildLog(id: string, fromOffset = 0): Promise<{ text: string; nextOffset: number }> {
    const key = this.#k.buildLog(id);
    const result = await this.#redis.multi().getrangeBuffer(key, fromOffset, -1).strlen(key).exec();
    const [[e1, chunk], [e2, length]] = result as [[Error | null, Buffer], [Error | null, number]];
    if (e1 || e2) throw e1 ?? e2;
    // GETRANGE 0 -1 of a missing key is empty; past the end it is empty too.
    const text = fromOffset < length ? chunk.toString('utf8') : '';
    return { text, nextOffset: length };
  }

  async putBuildReport(id: string, report: CheckReport): Promise<void> {
    await this.#redis.set(this.#k.buildReport(id), JSON.stringify(report));
  }

  async getBuildReport(id: string): Promise<CheckReport | null> {
    return parse<CheckReport>(await this.#redis.get(this.#k.buildReport(id)));
  }

  async appendLogs(fn: string, lines: LogRecord[]): Promise<void> {
    if (lines.length === 0) return;
    const key = this.#k.logs(fn);
    // One round trip per batch; MULTI so a reader never sees the list past its cap.
    const result = await this.#redis
      .multi()
      .rpush(key, ...lines.map((l) => JSON.stringify(l)))
      .ltrim(key, -LOG_LINES_KEPT, -1)
      .expire(key, LOGS_TTL_S)
      .exec();
    const failed = result?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async readLogs(fn: string, opts: LogQuery = {}): Promise<LogRecord[]> {
    if (opts.limit === 0) return [];
    const key = this.#k.logs(fn);
    // Without a filter only the tail is read; a filter has to look at every kept line.
    const filtered = opts.requestId !== undefined || opts.since !== undefined;
    const from = !filtered && opts.limit !== undefined ? -opts.limit : 0;
    const all = (await this.#redis.lrange(key, from, -1)).map((j) => JSON.parse(j) as LogRecord);
    return selectLogs(all, opts);
  }

  async appendInvocations(records: InvocationRecord[], retention: InvocationRetention): Promise<void> {
    if (records.length === 0) return;
    // One script per batch: records, index, retention and usage (redis-invocations.ts).
    await writeInvocations(this.#writeBatch, this.#k, this.#usage, records, retention, Date.now());
  }

  async listInvocations(fn: string, query: InvocationQuery = {}): Promise<InvocationRecord[]> {
    // The index is bounded by the retention's count, so reading it whole is bounded too.
    const max = query.before === undefined ? '+inf' : `(${Date.parse(query.before)}`;
    const ids = await this.#redis.zrevrangebyscore(this.#k.invocationsOf(fn), max, '-inf');
    if (ids.length === 0) return [];
    const all = await this.#redis.mget(ids.map((id) => this.#k.invocation(id)));
    // A record trimmed by count may still have its key until it expires: only the indexed ones count.
    return selectInvocations(all.map((j) => parse<InvocationRecord>(j)).filter((r): r is InvocationRecord => r !== null && r.function === fn), query);
  }

  readUsage(range: UsageRange): Promise<UsageRow[]> {
    return readUsage(this.#redis, this.#usage, range);
  }

  async getInvocation(id: string): Promise<InvocationRecord | null> {
    return parse<InvocationRecord>(await this.#redis.get(this.#k.invocation(id)));
  }

  watchFunctions(onChange: (name: string | null) => unknown): () => void {
    return this.#watch.add(onChange);
  }

  sessions(clock: Clock, limits?: SessionLimits): SessionStore {
    return new RedisSessions(this.#redis, this.#p, clock, limits);
  }

  /**
   * Moves the functions `owns` accepts from the keys of a Stratus that had no per-platform prefix to this
   * store's prefix (redis-legacy.ts). Run once at start, before anything reads the store.
   */
  adoptLegacyFunctions(owns: (versions: VersionRecord[]) => boolean, from = LEGACY_PREFIX): Promise<LegacyAdoption> {
    return adoptLegacyFunctions(this.#redis, from, this.#p, owns);
  }

  /** Resolves once the watch subscription is active: changes published before then are not seen. */
  watching(): Promise<void> {
    return this.#watch.watching();
  }

  protected async doClose(): Promise<void> {
    // The error listener stays (core/redis-client.ts): an error while the client winds down finds it.
    await Promise.allSettled([this.#watch.close(), this.#redis.quit()]);
  }
}
