// Versions, aliases, canaries and rollback over the gateway harness (MemoryStore, fake builder, a fake
// scheduler that records which version each call was leased for): what the API answers, where calls go
// (/fn/NAME, /fn/NAME@ALIAS, /fn/NAME@vN, a weighted split), an abandoned move leaving the alias alone,
// and the error-rate watch rolling back a canary and a fresh rollout by itself.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pickWeighted } from '../../core/aliases.js';
import { StratusError } from '../../core/errors.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import type { NotifyEventInput } from '../../core/ports/notifier.js';
import { ErrorWatch } from '../../control/releases/error-watch.js';
import { ReleaseService } from '../../control/releases/release-service.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

const upload = (h: Harness, config: Record<string, unknown> = {}) =>
  request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node', ...config })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');

async function deployVersions(h: Harness, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await h.builder.succeed((await upload(h)).body.buildId);
  await vi.waitFor(() => expect(h.app.routes.lookup('hello')?.version).toBe(n));
}

const calledVersion = async (h: Harness, path: string): Promise<number> => {
  const res = await request(h.app).get(path);
  expect(res.status, res.text).toBe(200);
  return h.scheduler.acquired.at(-1)!.target.version;
};

function expectProblem(res: request.Response, status: number, code: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.code).toBe(code);
  if (field) expect(res.body.field).toBe(field);
}

describe('versions, aliases and rollback', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ STRATUS_ROLLBACK_WARM_MS: '0' });
    await deployVersions(h, 3);
  });
  afterEach(() => h.close());

  it('lists versions with the aliases serving them, routes an alias and a version by number', async () => {
    const put = await request(h.app).put('/v1/functions/hello/aliases/prod').set(auth).send({ version: 2 });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ alias: 'prod', version: 2, versions: [{ version: 2, weight: 100 }], previous: null, rollout: { state: 'done', cause: 'alias' } });
    const versions = await request(h.app).get('/v1/functions/hello/versions').set(auth);
    expect(versions.body.versions.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases])).toEqual([[1, []], [2, ['prod']], [3, ['latest']]]);
    expect((await request(h.app).get('/v1/functions/hello/aliases').set(auth)).body.aliases).toEqual({ latest: [{ version: 3, weight: 100 }], prod: [{ version: 2, weight: 100 }] });

    await vi.waitFor(() => expect(h.app.routes.route('hello')?.aliases.has('prod')).toBe(true));
    expect(await calledVersion(h, '/fn/hello/x')).toBe(3);
    expect(await calledVersion(h, '/fn/hello@prod/x?y=1')).toBe(2);
    expect(await calledVersion(h, '/fn/hello@v1')).toBe(1);
    expect(await calledVersion(h, '/fn/hello@latest')).toBe(3);
    expectProblem(await request(h.app).get('/fn/hello@beta'), 404, 'NOT_FOUND');
    const reads = vi.spyOn(h.store, 'getVersion');
    expectProblem(await request(h.app).get('/fn/hello@v9'), 404, 'NOT_FOUND');
    expectProblem(await request(h.app).get('/fn/hello@v9'), 404, 'NOT_FOUND'); // remembered: no second store read
    expect(reads.mock.calls.filter(([, v]) => v === 9)).toHaveLength(1);
    reads.mockRestore();
    expectProblem(await request(h.app).get('/fn/hello@Bad_Alias'), 404, 'FUNCTION_NOT_FOUND');
    // The path the function sees starts after the qualifier.
    h.instance.handle = (req, res) => res.end(req.url);
    expect((await request(h.app).get('/fn/hello@prod/a/b?c=d')).text).toBe('/a/b?c=d');

    expect((await request(h.app).delete('/v1/functions/hello/aliases/prod').set(auth)).status).toBe(204);
    expectProblem(await request(h.app).delete('/v1/functions/hello/aliases/prod').set(auth), 404, 'NOT_FOUND');
    expectProblem(await request(h.app).delete('/v1/functions/hello/aliases/latest').set(auth), 400, 'INVALID_REQUEST', 'alias');
  });

  it('splits a canary alias by its weights', async () => {
    const put = await request(h.app).put('/v1/functions/hello/aliases/prod').set(auth).send({ versions: [{ version: 2, weight: 80 }, { version: 3, weight: 20 }] });
    expect(put.status, put.text).toBe(200);
    await vi.waitFor(() => expect(h.app.routes.route('hello')?.aliases.has('prod')).toBe(true));
    const pick = h.app.routes.route('hello')!.aliases.get('prod')!;
    let canary = 0;
    for (let i = 0; i < 1000; i++) if (pick().version === 3) canary++;
    // 20 % ± 5 %: about four standard deviations, so this fails by chance about once in 10^4 runs.
    expect(canary).toBeGreaterThanOrEqual(150);
    expect(canary).toBeLessThanOrEqual(250);
    expect(pickWeighted([{ version: 2, weight: 80 }, { version: 3, weight: 20 }], 0.79)).toBe(2);
    expect(pickWeighted([{ version: 2, weight: 80 }, { version: 3, weight: 20 }], 0.8)).toBe(3);
  });

  it('refuses a bad alias body or name, an unknown or unready version', async () => {
    const put = (alias: string, body: unknown) => request(h.app).put(`/v1/functions/hello/aliases/${alias}`).set(auth).send(body as object);
    expectProblem(await put('prod', { versions: [{ version: 2, weight: 70 }, { version: 3, weight: 20 }] }), 400, 'INVALID_REQUEST', 'body.versions');
    expectProblem(await put('prod', { versions: [{ version: 2, weight: 50 }, { version: 2, weight: 50 }] }), 400, 'INVALID_REQUEST', 'body.versions');
    expectProblem(await put('prod', { versions: [{ version: 2, weight: 100 }, { version: 3, weight: 0 }] }), 400, 'INVALID_REQUEST', 'body.versions.0.weight');
    expectProblem(await put('prod', { version: 'two' }), 400, 'INVALID_REQUEST', 'body.version');
    expectProblem(await put('v2', { version: 2 }), 400, 'INVALID_REQUEST', 'alias');
    expectProblem(await put('prod', { version: 9 }), 404, 'NOT_FOUND');
    await upload(h); // version 4, still building
    expectProblem(await put('prod', { version: 4 }), 409, 'CONFLICT');
    expectProblem(await request(h.app).put('/v1/functions/nobody/aliases/prod').set(auth).send({ version: 1 }), 404, 'FUNCTION_NOT_FOUND');
  });

  it('rolls back to the previous good version, or to a given one, and says what serves now', async () => {
    const back = await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({});
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({ name: 'hello', version: 2, previous: [{ version: 3, weight: 100 }], rollout: { cause: 'rollback', state: 'done' } });
    await vi.waitFor(() => expect(h.app.routes.lookup('hello')?.version).toBe(2));
    expect(await calledVersion(h, '/fn/hello')).toBe(2);
    const fn = await request(h.app).get('/v1/functions/hello').set(auth);
    expect(fn.body).toMatchObject({ currentVersion: 2, rollout: { alias: 'latest', cause: 'rollback', to: [{ version: 2, weight: 100 }] } });
    expect((await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({ version: 3 })).body.version).toBe(3);
    expectProblem(await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({ version: 3 }), 409, 'CONFLICT');
    expectProblem(await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({ version: 0 }), 400, 'INVALID_REQUEST', 'body.version');
    expectProblem(await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({ to: 1 }), 400, 'INVALID_REQUEST', 'body.to');
    await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({ version: 1 });
    expectProblem(await request(h.app).post('/v1/functions/hello/rollback').set(auth).send({}), 409, 'CONFLICT');
  });

  it('abandons a move whose version gets no ready instance: the alias stays, the rollout says why', async () => {
    h.scheduler.acquireError = new StratusError('INSTANCE_START_FAILED', 'the instance exited during start-up');
    const res = await request(h.app).put('/v1/functions/hello/aliases/latest').set(auth).send({ version: 2 });
    expectProblem(res, 503, 'ROLLOUT_ABANDONED');
    expect(res.body.detail).toMatch(/version 2 got no ready instance .*instance exited during start-up.*latest still serves v3/);
    const fn = (await h.store.getFunction('hello'))!;
    expect(fn).toMatchObject({ currentVersion: 3, rollout: { state: 'abandoned', to: [{ version: 2, weight: 100 }] } });
    expect(await calledVersion(h, '/fn/hello').catch(() => 0)).toBe(0); // every acquire fails here; the route did not move
    expect(h.app.routes.lookup('hello')?.version).toBe(3);
  });
});

describe('automatic rollback (the error-rate watch)', () => {
  let h: Harness;
  let watch: ErrorWatch;
  let releases: ReleaseService;
  const told: NotifyEventInput[] = [];
  beforeEach(async () => {
    h = await startHarness({ STRATUS_ROLLBACK_WARM_MS: '0' });
    await deployVersions(h, 2);
    const notifier = { notify: async (e: NotifyEventInput) => void told.push(e), close: async () => {} };
    releases = new ReleaseService({ store: h.store, scheduler: h.scheduler, notifier, clock: systemClock, logger: silentLogger, rolloutDeadlineMs: 1000 });
    watch = new ErrorWatch({
      store: h.store, releases, clock: systemClock, logger: silentLogger, notifier,
      settings: { errorRate: 0.5, minRequests: 10, windowMs: 60_000, watchMs: 300_000 },
    });
  });
  afterEach(async () => {
    await watch.close();
    await h.close();
    told.length = 0;
  });

  const record = (version: number, statusCode: number) => watch.record({ id: 'r', function: 'hello', version, trigger: 'http', start: new Date().toISOString(), durationMs: 1, statusCode, outcome: statusCode < 500 ? 'succeeded' : 'failed', billedMs: 1, memoryMb: 128 });

  it('ends a canary that answers 500, keeping its primary, and says so', async () => {
    await releases.move('hello', 'prod', [{ version: 1, weight: 80 }, { version: 2, weight: 20 }], 'alias');
    for (let i = 0; i < 9; i++) record(2, 500);
    for (let i = 0; i < 20; i++) record(1, 200);
    expect((await h.store.getFunction('hello'))!.aliases!.prod!.versions).toHaveLength(2); // 9 calls: below minRequests
    record(2, 500);
    await vi.waitFor(async () => expect((await h.store.getFunction('hello'))!.aliases!.prod!.versions).toEqual([{ version: 1, weight: 100 }]));
    await vi.waitFor(() => expect(told.map((e) => e.kind)).toEqual(['error-rate.high', 'rollback']));
    expect(told[1]).toMatchObject({ data: { alias: 'prod', from: 2, to: 1, automatic: true } });
    // latest (v2 alone, not a canary, and not rolled out by a build here) is left alone.
    expect((await h.store.getFunction('hello'))!.currentVersion).toBe(2);
  });

  it('rolls a fresh rollout of latest back to the version before it; a healthy one is left alone', async () => {
    await releases.rollback('hello', 1);
    await releases.move('hello', 'latest', [{ version: 2, weight: 100 }], 'build');
    for (let i = 0; i < 10; i++) record(2, i < 4 ? 500 : 200); // 40 %: below the threshold
    await new Promise((r) => setTimeout(r, 50));
    expect((await h.store.getFunction('hello'))!.currentVersion).toBe(2);
    for (let i = 0; i < 12; i++) record(2, 502);
    await vi.waitFor(async () => expect((await h.store.getFunction('hello'))!.currentVersion).toBe(1));
    expect((await h.store.getFunction('hello'))!.rollout).toMatchObject({ cause: 'auto-rollback', to: [{ version: 1, weight: 100 }] });
    await vi.waitFor(() => expect(told.filter((e) => e.kind === 'rollback').map((e) => e.data)).toContainEqual(expect.objectContaining({ from: 2, to: 1, automatic: true })));
  });
});
