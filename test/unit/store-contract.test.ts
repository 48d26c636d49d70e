// One suite, two stores: the MemoryStore always, the RedisStore against real Redis (skipped outside CI
// when Redis is not running, failing in CI). Both must behave the same.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import { builtHere } from '../../platform/boot/legacy-keys.js';
import type { Store } from '../../core/store/store.js';
import { LOG_LINES_KEPT } from '../../core/store/store.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import type { BuildRecord, FunctionRecord, LogRecord, VersionRecord } from '../../core/types.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const config = { name: 'hello', runtime: 'node' as const, memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000 };

const fn = (name: string, over: Partial<FunctionRecord> = {}): FunctionRecord => ({
  name, config: { ...config, name }, currentVersion: null, latestVersion: 1, createdAt: 't0', updatedAt: 't0', ...over,
});
const version = (name: string, v: number): VersionRecord => ({
  function: name, version: v, config: { ...config, name }, status: 'building', image: null, artifactDir: null, buildId: `b-${name}-${v}`, createdAt: 't0',
});
const build = (id: string, name: string, status: BuildRecord['status'] = 'queued'): BuildRecord => ({
  id, function: name, version: 1, status, createdAt: 't0', startedAt: null, finishedAt: null, timings: {}, image: null, error: null,
});

const logLine = (n: number, over: Partial<LogRecord> = {}): LogRecord => ({
  time: new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString(), function: 'hello', version: 1, instance: 'i-1',
  requestId: `r${n % 2}`, level: 'info', stream: 'stdout', message: `line ${n}`, ...over,
});

const record = (id: string, secondsAgo: number, over: Partial<InvocationRecord> = {}): InvocationRecord => ({
  id, function: 'hello', version: 1, trigger: 'http', start: new Date(Date.now() - secondsAgo * 1000).toISOString(), durationMs: 1.2,
  statusCode: 200, outcome: 'succeeded', billedMs: 2, memoryMb: 128, ...over,
});
const RETAIN = { maxPerFunction: 1000, maxAgeMs: 3600_000 };

/** Resolves with the next name a watcher reports. */
function nextChange(store: Store): { names: string[]; next: () => Promise<string>; stop: () => void } {
  const names: string[] = [];
  let waiting: ((n: string) => void) | undefined;
  const stop = store.watchFunctions((n) => {
    names.push(n);
    waiting?.(n);
  });
  return { names, stop, next: () => new Promise<string>((resolve) => (waiting = resolve)) };
}

function contract(makeStore: () => Promise<Store>, cleanup: () => Promise<void> = async () => {}) {
  let store: Store;
  beforeEach(async () => {
    store = await makeStore();
  });
  afterEach(async () => {
    await store.close();
    await store.close(); // safe twice
    await cleanup();
  });

  it('stores functions and lists them by name', async () => {
    expect(await store.getFunction('b')).toBeNull();
    await store.putFunction(fn('b'));
    await store.putFunction(fn('a', { currentVersion: 3 }));
    expect(await store.getFunction('a')).toEqual(fn('a', { currentVersion: 3 }));
    expect((await store.listFunctions()).map((f) => f.name)).toEqual(['a', 'b']);
  });

  it('hands out version numbers that are never reused, even after a delete', async () => {
    expect(await store.nextVersion('hello')).toBe(1);
    expect(await store.nextVersion('hello')).toBe(2);
    expect(await store.nextVersion('other')).toBe(1);
    await store.putFunction(fn('hello'));
    await store.deleteFunction('hello');
    expect(await store.nextVersion('hello')).toBe(3);
  });

  it('hands out push tickets in order and a version only to a push no later push has passed, kept across a delete', async () => {
    const [t1, t2, t3] = [await store.takePushTicket('hello'), await store.takePushTicket('hello'), await store.takePushTicket('hello')];
    expect([t1, t2, t3]).toEqual([1, 2, 3]);
    expect(await store.takePushTicket('other')).toBe(1);
    expect(await store.nextVersion('hello')).toBe(1); // an upload between pushes: the same counter
    expect(await store.nextVersionInTurn('hello', t2)).toEqual({ version: 2 });
    expect(await store.nextVersionInTurn('hello', t1)).toEqual({ passedBy: 2, version: 2 }); // older, arriving late
    expect(await store.nextVersion('hello')).toBe(3); // the refused push took no number
    expect(await store.nextVersionInTurn('hello', t3)).toEqual({ version: 4 });
    // Two at once: exactly one of two tickets' turns is taken when the later one goes first.
    const [t4, t5] = [await store.takePushTicket('hello'), await store.takePushTicket('hello')];
    const turns = await Promise.all([store.nextVersionInTurn('hello', t5), store.nextVersionInTurn('hello', t4)]);
    expect(turns).toEqual([{ version: 5 }, { passedBy: t5, version: 5 }]);
    await store.putFunction(fn('hello'));
    await store.deleteFunction('hello');
    expect(await store.takePushTicket('hello')).toBe(6);
    expect(await store.nextVersionInTurn('hello', t4)).toEqual({ passedBy: t5, version: 5 }); // a push in flight across the delete
  });

  it('stores versions per function, listed in order', async () => {
    await store.putVersion(version('hello', 2));
    await store.putVersion(version('hello', 1));
    await store.putVersion({ ...version('hello', 1), status: 'ready' });
    expect(await store.getVersion('hello', 1)).toMatchObject({ status: 'ready' });
    expect(await store.getVersion('hello', 9)).toBeNull();
    expect((await store.listVersions('hello')).map((v) => v.version)).toEqual([1, 2]);
    expect(await store.listVersions('none')).toEqual([]);
  });

  it('tracks unfinished builds through their status', async () => {
    await store.putBuild(build('b1', 'hello'));
    await store.putBuild(build('b2', 'hello', 'building'));
    expect((await store.listUnfinishedBuilds()).map((b) => b.id).sort()).toEqual(['b1', 'b2']);
    await store.putBuild(build('b1', 'hello', 'succeeded'));
    await store.putBuild(build('b2', 'hello', 'failed'));
    expect(await store.listUnfinishedBuilds()).toEqual([]);
    expect(await store.getBuild('b2')).toMatchObject({ status: 'failed' });
    expect(await store.getBuild('nope')).toBeNull();
  });

  it('appends build logs and reads them from a byte offset', async () => {
    expect(await store.readBuildLog('b1')).toEqual({ text: '', nextOffset: 0 });
    await store.appendBuildLog('b1', 'step 1 ✓\n');
    const first = await store.readBuildLog('b1');
    expect(first.text).toBe('step 1 ✓\n');
    expect(first.nextOffset).toBe(Buffer.byteLength('step 1 ✓\n'));
    await store.appendBuildLog('b1', 'step 2\n');
    expect(await store.readBuildLog('b1', first.nextOffset)).toEqual({ text: 'step 2\n', nextOffset: first.nextOffset + 7 });
    expect((await store.readBuildLog('b1', 10_000)).text).toBe('');
  });

  it('keeps a build\'s check report, replaced as a whole', async () => {
    expect(await store.getBuildReport('b1')).toBeNull();
    const failed = { tool: 'eslint' as const, status: 'failed' as const, durationMs: 812, exitCode: 1, problems: [{ file: 'index.js', line: 3, column: 15, rule: 'no-undef', severity: 'error' as const, message: "'countr' is not defined." }], output: 'error index.js:3:15 …\n' };
    await store.putBuildReport('b1', { checks: [failed] });
    expect(await store.getBuildReport('b1')).toEqual({ checks: [failed] });
    const passed = { tool: 'npm test' as const, status: 'skipped' as const, reason: 'package.json has no test script', durationMs: 0, exitCode: null, problems: [], output: '' };
    await store.putBuildReport('b1', { checks: [{ ...failed, status: 'passed', problems: [] }, passed] });
    expect((await store.getBuildReport('b1'))!.checks.map((c) => c.status)).toEqual(['passed', 'skipped']);
    expect(await store.getBuildReport('b2')).toBeNull();
  });

  it('deletes a function with its versions, builds and logs, and nothing of others', async () => {
    await store.putFunction(fn('hello'));
    await store.putVersion(version('hello', 1));
    await store.putBuild(build('b1', 'hello'));
    await store.appendBuildLog('b1', 'log');
    await store.putBuildReport('b1', { checks: [] });
    await store.putFunction(fn('other'));
    await store.putBuild(build('b9', 'other'));
    await store.putBuildReport('b9', { checks: [] });
    expect(await store.deleteFunction('hello')).toBe(true);
    expect(await store.getFunction('hello')).toBeNull();
    expect(await store.listVersions('hello')).toEqual([]);
    expect(await store.getBuild('b1')).toBeNull();
    expect((await store.readBuildLog('b1')).text).toBe('');
    expect(await store.getBuildReport('b1')).toBeNull();
    expect(await store.getBuildReport('b9')).toEqual({ checks: [] });
    expect((await store.listUnfinishedBuilds()).map((b) => b.id)).toEqual(['b9']);
    expect(await store.getFunction('other')).not.toBeNull();
    expect(await store.deleteFunction('hello')).toBe(false);
  });

  it('appends function logs in batches and reads them newest last, by request id, limit and time', async () => {
    expect(await store.readLogs('hello')).toEqual([]);
    await store.appendLogs('hello', [logLine(0), logLine(1), logLine(2)]);
    await store.appendLogs('hello', []);
    await store.appendLogs('hello', [logLine(3, { requestId: null, level: 'error', stream: 'stderr' })]);
    await store.appendLogs('other', [logLine(9, { function: 'other' })]);
    expect((await store.readLogs('hello')).map((l) => l.message)).toEqual(['line 0', 'line 1', 'line 2', 'line 3']);
    expect(await store.readLogs('hello', { limit: 1 })).toEqual([logLine(3, { requestId: null, level: 'error', stream: 'stderr' })]);
    expect((await store.readLogs('hello', { requestId: 'r0' })).map((l) => l.message)).toEqual(['line 0', 'line 2']);
    expect((await store.readLogs('hello', { requestId: 'r0', limit: 1 })).map((l) => l.message)).toEqual(['line 2']);
    expect((await store.readLogs('hello', { since: logLine(1).time })).map((l) => l.message)).toEqual(['line 2', 'line 3']);
    expect(await store.readLogs('hello', { limit: 0 })).toEqual([]);
    expect(await store.readLogs('hello', { requestId: 'nope' })).toEqual([]);
  });

  it(`keeps the newest ${LOG_LINES_KEPT} log lines of a function`, async () => {
    const lines = Array.from({ length: LOG_LINES_KEPT + 3 }, (_, n) => logLine(n));
    await store.appendLogs('hello', lines.slice(0, 10));
    await store.appendLogs('hello', lines.slice(10));
    const kept = await store.readLogs('hello');
    expect(kept).toHaveLength(LOG_LINES_KEPT);
    expect(kept[0]!.message).toBe('line 3');
    expect(kept.at(-1)!.message).toBe(`line ${LOG_LINES_KEPT + 2}`);
  });

  it('deletes a function\'s logs with it, and nothing of others', async () => {
    await store.putFunction(fn('hello'));
    await store.appendLogs('hello', [logLine(1)]);
    await store.appendLogs('other', [logLine(2, { function: 'other' })]);
    await store.deleteFunction('hello');
    expect(await store.readLogs('hello')).toEqual([]);
    expect(await store.readLogs('other')).toHaveLength(1);
  });

  it('keeps invocation records per function, newest first, filtered by outcome, trigger and time, one per id', async () => {
    await store.appendInvocations([record('a', 30), record('b', 20, { trigger: 'async', outcome: 'failed', statusCode: 500, attempt: 1 }), record('c', 10), record('x', 5, { function: 'other' })], RETAIN);
    // A later attempt of the same async invocation replaces its record.
    await store.appendInvocations([record('b', 15, { trigger: 'async', attempt: 2 })], RETAIN);
    expect((await store.listInvocations('hello')).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect((await store.listInvocations('hello', { trigger: 'async' }))).toEqual([record('b', 15, { trigger: 'async', attempt: 2, start: (await store.getInvocation('b'))!.start })]);
    expect((await store.listInvocations('hello', { outcome: 'failed' }))).toEqual([]);
    const c = await store.getInvocation('c');
    expect((await store.listInvocations('hello', { before: c!.start, limit: 1 })).map((r) => r.id)).toEqual(['b']);
    expect((await store.getInvocation('x'))!.function).toBe('other');
    expect(await store.getInvocation('nope')).toBeNull();
  });

  it('bounds invocation records by count per function and by age, and deletes them with the function', async () => {
    await store.appendInvocations([record('old', 7200), record('r1', 3), record('r2', 2), record('r3', 1), record('o', 1, { function: 'other' })], { maxPerFunction: 2, maxAgeMs: 3600_000 });
    expect((await store.listInvocations('hello')).map((r) => r.id)).toEqual(['r3', 'r2']);
    await store.putFunction(fn('hello'));
    await store.deleteFunction('hello');
    expect(await store.listInvocations('hello')).toEqual([]);
    expect(await store.getInvocation('r3')).toBeNull();
    expect(await store.listInvocations('other')).toHaveLength(1);
  });

  it('changes a function record by compare-and-set: concurrent updates lose nothing, a declined one writes nothing', async () => {
    expect(await store.updateFunction('counter', (f) => f ?? fn('counter', { latestVersion: 0 }))).toMatchObject({ latestVersion: 0 });
    await Promise.all(Array.from({ length: 20 }, () => store.updateFunction('counter', (f) => f && { ...f, latestVersion: f.latestVersion + 1 })));
    expect((await store.getFunction('counter'))!.latestVersion).toBe(20);
    expect(await store.updateFunction('counter', () => null)).toBeNull();
    expect((await store.getFunction('counter'))!.latestVersion).toBe(20);
    expect(await store.updateFunction('ghost', (f) => f && { ...f, latestVersion: 9 })).toBeNull();
    expect(await store.getFunction('ghost')).toBeNull();
  });

  it('tells watchers about updates and deletes until they unsubscribe', async () => {
    const a = nextChange(store);
    const b = nextChange(store);
    if (store instanceof RedisStore) await store.watching();
    let seen = a.next();
    await store.putFunction(fn('hello'));
    expect(await seen).toBe('hello');
    seen = a.next();
    await store.deleteFunction('hello');
    expect(await seen).toBe('hello');
    a.stop();
    const bSeen = b.next();
    await store.putFunction(fn('later'));
    expect(await bSeen).toBe('later');
    // Both watchers are told in the same dispatch, so once b heard of "later", a would have too.
    expect(a.names).toEqual(['hello', 'hello']);
    b.stop();
  });

  it("resolves a write only once this replica's watchers have taken its notice in (read-your-writes)", async () => {
    const taken: string[] = [];
    const stop = store.watchFunctions(async (n) => {
      await new Promise((r) => setTimeout(r, 20)); // a view re-reading the store takes a while
      if (n) taken.push(n);
    });
    if (store instanceof RedisStore) await store.watching();
    await store.putFunction(fn('hello'));
    expect(taken).toEqual(['hello']);
    await store.updateFunction('hello', (f) => f && { ...f, latestVersion: 2 });
    expect(taken).toEqual(['hello', 'hello']);
    expect(await store.updateFunction('hello', () => null)).toBeNull(); // declined: nothing to announce
    await store.deleteFunction('hello');
    expect(taken).toEqual(['hello', 'hello', 'hello']);
    stop();
  });
}

describe('store contract: MemoryStore', () => {
  contract(async () => new MemoryStore());
});

describe.skipIf(await missing('redis'))('store contract: RedisStore', () => {
  const prefix = `stratus-test-${randomUUID()}:`;
  const removeKeys = () => removeRedisKeys(REDIS_URL, prefix);
  contract(async () => new RedisStore(REDIS_URL, { prefix }), removeKeys);

  it('tells a second replica (another connection) about a change, and shares the version counter', async () => {
    const a = new RedisStore(REDIS_URL, { prefix });
    const b = new RedisStore(REDIS_URL, { prefix });
    try {
      const watch = nextChange(b);
      await b.watching();
      const seen = watch.next();
      await a.putFunction(fn('shared'));
      expect(await seen).toBe('shared');
      expect(await b.getFunction('shared')).toEqual(fn('shared'));
      expect([await a.nextVersion('shared'), await b.nextVersion('shared')]).toEqual([1, 2]);
      watch.stop();
    } finally {
      await a.close();
      await b.close();
      await removeKeys();
    }
  });
});

describe.skipIf(await missing('redis'))('RedisStore prefixes: platforms sharing one Redis', () => {
  const run = randomUUID();
  const prefixes = { a: `stratus-test-a-${run}:`, b: `stratus-test-b-${run}:`, legacy: `stratus-test-legacy-${run}:` };
  let admin: Redis;
  beforeEach(() => {
    admin = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const p of Object.values(prefixes)) {
      const keys = await admin.keys(`${p}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    await admin.quit();
  });

  it('lists, serves, deletes and announces only the functions under its own prefix', async () => {
    const a = new RedisStore(REDIS_URL, { prefix: prefixes.a });
    const b = new RedisStore(REDIS_URL, { prefix: prefixes.b });
    try {
      const heardByB = nextChange(b);
      await b.watching();
      await a.putFunction(fn('same-name'));
      await a.putFunction(fn('only-a'));
      await a.appendLogs('same-name', [logLine(1)]);
      let heard = heardByB.next();
      await b.putFunction(fn('same-name', { latestVersion: 7 }));
      await heard;
      expect((await a.listFunctions()).map((f) => f.name)).toEqual(['only-a', 'same-name']);
      expect((await b.listFunctions()).map((f) => f.name)).toEqual(['same-name']);
      expect(await b.getFunction('only-a')).toBeNull();
      expect(await b.deleteFunction('only-a')).toBe(false);
      expect(await a.getFunction('only-a')).not.toBeNull();
      heard = heardByB.next();
      expect(await b.deleteFunction('same-name')).toBe(true);
      await heard;
      expect(await a.getFunction('same-name')).toEqual(fn('same-name'));
      expect(await a.readLogs('same-name')).toHaveLength(1);
      // B heard its own put and delete, nothing of A's writes (published before B's own, so they would have come first).
      expect(heardByB.names).toEqual(['same-name', 'same-name']);
      heardByB.stop();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a delete leaves no key of the function but its version counter and push tickets (kept so numbers never repeat) and its metered usage', async () => {
    const a = new RedisStore(REDIS_URL, { prefix: prefixes.a });
    try {
      await a.nextVersion('gone');
      await a.takePushTicket('gone');
      await a.putFunction(fn('gone'));
      await a.putVersion(version('gone', 1));
      await a.putBuild(build('b-gone', 'gone'));
      await a.appendBuildLog('b-gone', 'log');
      await a.appendLogs('gone', [logLine(1, { function: 'gone' })]);
      await a.appendInvocations([record('inv-gone', 1, { function: 'gone' })], RETAIN);
      await a.deleteFunction('gone');
      // Usage is billing history: it expires by its own retention, never with the function (usage-redis.ts).
      const usage = /^(usage-fns|usage:gone:\d{4}-\d\d-\d\d|billed:\d{4}-\d\d-\d\dT\d\d)$/;
      const left = (await admin.keys(`${prefixes.a}*`)).map((k) => k.slice(prefixes.a.length));
      expect(left.filter((k) => !usage.test(k)).sort()).toEqual(['push-turns:gone', 'version-counter:gone']);
      expect(left.filter((k) => usage.test(k))).toHaveLength(3);
    } finally {
      await a.close();
    }
  });

  it('moves the legacy (unprefixed) functions built from its state dir, with every key, and leaves the others', async () => {
    const stateDir = `/srv/stratus-${run}/state`;
    const legacy = new RedisStore(REDIS_URL, { prefix: prefixes.legacy });
    const a = new RedisStore(REDIS_URL, { prefix: prefixes.a });
    try {
      const built = (name: string, dir: string): VersionRecord => ({ ...version(name, 1), status: 'ready', artifactDir: `${dir}/artifacts/${name}/v1` });
      // What an older Stratus wrote: a function built here (with a build, logs, counter), one built from
      // another state dir, one running a user's image only.
      await legacy.nextVersion('mine');
      await legacy.nextVersion('mine');
      await legacy.putFunction(fn('mine', { currentVersion: 1 }));
      await legacy.putVersion(built('mine', stateDir));
      await legacy.putBuild(build('b-mine', 'mine', 'building'));
      await legacy.appendBuildLog('b-mine', 'built here');
      await legacy.appendLogs('mine', [logLine(1, { function: 'mine' })]);
      await legacy.putFunction(fn('theirs'));
      await legacy.putVersion(built('theirs', `${stateDir}-other`));
      await legacy.putFunction(fn('image-only'));
      await legacy.putVersion({ ...version('image-only', 1), image: 'example/img:1' });

      const moved = await a.adoptLegacyFunctions(builtHere(stateDir), prefixes.legacy);
      expect(moved).toEqual({ adopted: ['mine'], left: expect.arrayContaining(['theirs', 'image-only']), clashing: [] });
      expect(await a.getFunction('mine')).toEqual(fn('mine', { currentVersion: 1 }));
      expect(await a.getVersion('mine', 1)).toMatchObject({ artifactDir: `${stateDir}/artifacts/mine/v1` });
      expect(await a.getBuild('b-mine')).toMatchObject({ status: 'building' });
      expect((await a.listUnfinishedBuilds()).map((b) => b.id)).toEqual(['b-mine']);
      expect((await a.readBuildLog('b-mine')).text).toBe('built here');
      expect(await a.readLogs('mine')).toHaveLength(1);
      expect(await a.nextVersion('mine')).toBe(3);
      expect(await admin.keys(`${prefixes.legacy}*mine*`)).toEqual([]);
      expect(await legacy.listUnfinishedBuilds()).toEqual([]);
      expect((await legacy.listFunctions()).map((f) => f.name)).toEqual(['image-only', 'theirs']);
      // Once moved, a second start finds nothing more of its own.
      expect((await a.adoptLegacyFunctions(builtHere(stateDir), prefixes.legacy)).adopted).toEqual([]);
    } finally {
      await legacy.close();
      await a.close();
    }
  });

  it('leaves a legacy function where it is when the platform already has one of that name', async () => {
    const stateDir = `/srv/stratus-${run}/state`;
    const legacy = new RedisStore(REDIS_URL, { prefix: prefixes.legacy });
    const a = new RedisStore(REDIS_URL, { prefix: prefixes.a });
    try {
      await legacy.putFunction(fn('dup', { latestVersion: 1 }));
      await legacy.putVersion({ ...version('dup', 1), artifactDir: `${stateDir}/artifacts/dup/v1` });
      await a.putFunction(fn('dup', { latestVersion: 5 }));
      expect(await a.adoptLegacyFunctions(builtHere(stateDir), prefixes.legacy)).toEqual({ adopted: [], left: [], clashing: ['dup'] });
      expect(await a.getFunction('dup')).toMatchObject({ latestVersion: 5 });
      expect(await legacy.getFunction('dup')).toMatchObject({ latestVersion: 1 });
    } finally {
      await legacy.close();
      await a.close();
    }
  });
});
