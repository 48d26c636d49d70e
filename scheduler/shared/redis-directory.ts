// The InstanceDirectory on Redis, under the platform's key prefix:
//   inst:{fn@v}      hash  instance id -> SharedInstance (JSON)
//   draining:{fn@v}  set   ids of those draining
//   starting:{fn@v}  zset  reservation ticket -> expiry (ms, Redis's clock)
//   inst-versions    set   the fn@v keys that have instances
//   replica-reports  hash  replica -> ReplicaReport (JSON)
//   leader           string the leading replica's name, with a TTL (the lease)
// Every change that several replicas make is one script or one MULTI: a reservation is counted and taken in
// one step, a publish turns the reservation into an instance in one step. Changes are also published on
// `instance-changes`; a second connection subscribes (a subscribed connection runs no other command), and
// after it reconnects the listeners are told to re-read everything, since pub/sub replays nothing.

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../core/log.js';
import type { DirectoryChange, InstanceDirectory, ReplicaReport, SharedInstance } from './directory.js';

// KEYS: inst, draining, starting. ARGV: ticket, want, max, ttlMs. Redis's own clock, so replicas' clocks do not matter.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local total = redis.call('HLEN', KEYS[1]) - redis.call('SCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
if total >= math.min(tonumber(ARGV[2]), tonumber(ARGV[3])) then return 0 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
return 1`;

// KEYS: inst, draining, channel-less. ARGV: id. Marks an existing instance draining; 0 when it is not there.
const DRAIN = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
rec.draining = true
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
redis.call('SADD', KEYS[2], ARGV[1])
return 1`;

// KEYS: lease. ARGV: replica, ttlMs. Take the lease if free, keep it if ours.
const LEAD = `
local holder = redis.call('GET', KEYS[1])
if holder == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

const RESIGN = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface RedisDirectoryOptions {
  /** Commands (closed by close()). */
  redis: Redis;
  /** A second connection for the subscription (closed by close()). */
  subscriber: Redis;
  prefix: string;
  replica: string;
  logger: Logger;
}

export class RedisDirectory implements InstanceDirectory {
  readonly shared = true;
  readonly replica: string;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #p: string;
  readonly #channel: string;
  readonly #listeners = new Set<(c: DirectoryChange) => void>();
  readonly #log: Logger;
  #everReady = false;

  constructor(o: RedisDirectoryOptions) {
    this.#redis = o.redis;
    this.#sub = o.subscriber;
    this.#p = o.prefix;
    this.replica = o.replica;
    this.#log = o.logger;
    this.#channel = `${o.prefix}instance-changes`;
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#dispatch(message);
    });
    // After a reconnect the subscription is renewed by ioredis, but what was published meanwhile is lost.
    this.#sub.on('ready', () => {
      if (this.#everReady) this.#emit({ op: 'resync' });
      this.#everReady = true;
    });
  }

  /** Resolves once the subscription is in place: changes made after it are heard. */
  async start(): Promise<void> {
    await this.#sub.subscribe(this.#channel);
  }

  #key(kind: string, fn: string, version: number): string {
    return `${this.#p}${kind}:${fn}@${version}`;
  }

  async reserveStart(fn: string, version: number, want: number, max: number, ttlMs: number): Promise<string | null> {
    const ticket = `${this.replica}-${randomUUID()}`;
    const keys = [this.#key('inst', fn, version), this.#key('draining', fn, version), this.#key('starting', fn, version)];
    const granted = await this.#redis.eval(RESERVE, 3, ...keys, ticket, want, max, ttlMs);
    return granted === 1 ? ticket : null;
  }

  async cancelStart(fn: string, version: number, ticket: string): Promise<void> {
    await this.#redis.zrem(this.#key('starting', fn, version), ticket);
  }

  async publish(instance: SharedInstance, ticket: string | null): Promise<void> {
    const { function: fn, version } = instance;
    const tx = this.#redis.multi().hset(this.#key('inst', fn, version), instance.id, JSON.stringify(instance)).sadd(`${this.#p}inst-versions`, `${fn}@${version}`);
    if (ticket) tx.zrem(this.#key('starting', fn, version), ticket);
    tx.publish(this.#channel, JSON.stringify({ op: 'up', instance } satisfies DirectoryChange));
    await tx.exec();
  }

  async drain(fn: string, version: number, id: string): Promise<void> {
    const marked = await this.#redis.eval(DRAIN, 2, this.#key('inst', fn, version), this.#key('draining', fn, version), id);
    if (marked === 1) await this.#redis.publish(this.#channel, JSON.stringify({ op: 'drain', function: fn, version, id } satisfies DirectoryChange));
  }

  async remove(fn: string, version: number, id: string): Promise<void> {
    const inst = this.#key('inst', fn, version);
    await this.#redis
      .multi()
      .hdel(inst, id)
      .srem(this.#key('draining', fn, version), id)
      .publish(this.#channel, JSON.stringify({ op: 'down', function: fn, version, id } satisfies DirectoryChange))
      .exec();
    // The version's entry in the index goes with its last instance; a publish racing this finds it re-added.
    await this.#redis.eval(`if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end return 0`, 2, inst, `${this.#p}inst-versions`, `${fn}@${version}`);
  }

  async list(): Promise<SharedInstance[]> {
    const versions = await this.#redis.smembers(`${this.#p}inst-versions`);
    if (versions.length === 0) return [];
    const tx = this.#redis.pipeline();
    for (const v of versions) tx.hvals(`${this.#p}inst:${v}`);
    const out: SharedInstance[] = [];
    for (const [err, vals] of (await tx.exec()) ?? []) {
      if (err) throw err;
      for (const raw of vals as string[]) {
        const rec = parse<SharedInstance>(raw);
        if (rec) out.push(rec);
      }
    }
    return out;
  }

  onChange(listener: (change: DirectoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async report(report: ReplicaReport): Promise<void> {
    await this.#redis.hset(`${this.#p}replica-reports`, report.replica, JSON.stringify(report));
  }

  async reports(): Promise<ReplicaReport[]> {
    const all = await this.#redis.hvals(`${this.#p}replica-reports`);
    return all.map((raw) => parse<ReplicaReport>(raw)).filter((r): r is ReplicaReport => r !== null);
  }

  async forgetReplica(replica: string): Promise<void> {
    await this.#redis.hdel(`${this.#p}replica-reports`, replica);
  }

  async lead(ttlMs: number): Promise<boolean> {
    return (await this.#redis.eval(LEAD, 1, `${this.#p}leader`, this.replica, ttlMs)) === 1;
  }

  async resign(): Promise<void> {
    await this.#redis.eval(RESIGN, 1, `${this.#p}leader`, this.replica);
  }

  /** Closes both connections (they are this directory's own). */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#sub.disconnect();
    this.#redis.disconnect(); // no QUIT: with Redis away it would wait for a reconnect
  }

  #dispatch(message: string): void {
    const change = parse<DirectoryChange>(message);
    if (change) this.#emit(change);
  }

  #emit(change: DirectoryChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#log.error('an instance directory listener failed', { err });
      }
    }
  }
}

function parse<T>(raw: string): T | null {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}
