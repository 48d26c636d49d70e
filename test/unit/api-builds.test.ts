import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

/** Collects a streamed body as text (superagent does not buffer event streams by itself). */
const asText = (res: NodeJS.ReadableStream, cb: (err: Error | null, body: string) => void) => {
  let data = '';
  res.on('data', (c: Buffer) => (data += c.toString('utf8')));
  res.on('end', () => cb(null, data));
};

function parseEvents(text: string): Array<{ event: string; data: string }> {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))!.slice(7);
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data };
    });
}

describe('control plane: /v1/builds', () => {
  let h: Harness;
  let buildId: string;
  beforeEach(async () => {
    h = await startHarness();
    const res = await request(h.app)
      .post('/v1/functions')
      .set(auth)
      .field('config', JSON.stringify({ name: 'hello', runtime: 'node' }))
      .attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    buildId = res.body.buildId;
  });
  afterEach(async () => {
    await h.close();
  });

  it('shows the build record, 404 for an unknown id', async () => {
    const res = await request(h.app).get(`/v1/builds/${buildId}`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: buildId, function: 'hello', version: 1, status: 'queued' });
    const missing = await request(h.app).get('/v1/builds/nope').set(auth);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('BUILD_NOT_FOUND');
  });

  it('answers the log as text/plain', async () => {
    await h.store.appendBuildLog(buildId, 'step 1\nstep 2\n');
    const res = await request(h.app).get(`/v1/builds/${buildId}/logs`).set(auth);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('step 1\nstep 2\n');
  });

  it('follows the log as server-sent events and ends with the final status', async () => {
    await h.store.appendBuildLog(buildId, 'extracting\n');
    const following = request(h.app).get(`/v1/builds/${buildId}/logs?follow=1`).set(auth).buffer(true).parse(asText).then((r) => r);
    // Progress arrives while the follower is polling; the build then ends and so must the stream.
    await h.store.putBuild({ ...(await h.store.getBuild(buildId))!, status: 'building' });
    await h.store.appendBuildLog(buildId, 'installing\n');
    await h.builder.fail(buildId, 'npm install failed');
    const res = await following;
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseEvents(res.body as string);
    const log = events.filter((e) => e.event === 'log').map((e) => e.data).join('');
    expect(log).toBe('extracting\ninstalling\nnpm install failed\n');
    expect(events.at(-1)!.event).toBe('end');
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'failed', error: 'npm install failed' });
  });
});
