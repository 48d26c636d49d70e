// GET /v1/functions[/NAME] while the scheduler backs off a version whose instances keep failing: the
// status is `failing`, with the last error, the instance's own words, the next try and the logs' address.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

describe('control plane: a failing function', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const deploy = async (name: string) => {
    const res = await request(h.app)
      .post('/v1/functions')
      .set(auth)
      .field('config', JSON.stringify({ name, runtime: 'node' }))
      .attach('code', Buffer.from('export default () => 1\n'), 'index.mjs');
    await h.builder.succeed(res.body.buildId as string);
  };
  const view = {
    version: 1,
    failures: 3,
    lastError: 'function crashy v1: the runtime exited with code 1 before it was ready',
    lastOutput: 'cannot load handler "index.handler" from /app: loading index.mjs failed: Error: DB_URL is not set (at index.mjs:2:7)',
    lastFailureAt: '2025-01-01T00:00:10.000Z',
    nextTryAt: '2025-01-01T00:00:14.000Z',
  };

  it('shows status failing with the last error, the next try and the logs URL', async () => {
    await deploy('crashy');
    h.scheduler.failingViews.set('crashy', view);
    const res = await request(h.app).get('/v1/functions/crashy').set(auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'crashy', status: 'failing', currentVersion: 1, failing: { ...view, logs: '/v1/functions/crashy/logs' } });
    const list = await request(h.app).get('/v1/functions').set(auth);
    expect(list.body.functions).toEqual([expect.objectContaining({ name: 'crashy', status: 'failing' })]);
  });

  it('is ready when the scheduler reports nothing, or only about a version it does not serve (shown, not its status)', async () => {
    await deploy('fine');
    expect((await request(h.app).get('/v1/functions/fine').set(auth)).body).toMatchObject({ status: 'ready', failing: null });
    // A version an abandoned rollout or /fn/fine@v7 started: its backoff is shown, the function still serves.
    h.scheduler.failingViews.set('fine', { ...view, version: 7 });
    expect((await request(h.app).get('/v1/functions/fine').set(auth)).body).toMatchObject({ status: 'ready', failing: { version: 7 } });
    expect((await request(h.app).get('/v1/functions').set(auth)).body.functions).toEqual([expect.objectContaining({ name: 'fine', status: 'ready' })]);
  });
});
