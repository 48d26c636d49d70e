// Build output is the uploader's: whatever it prints must reach a follower of the build log as data of
// `log` events and nothing else. An event stream ends lines at "\r\n", "\r" and "\n" alike, so a lone
// "\r" in the output used to start a line of its own — "event: end" with a forged status, for one.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildLog } from '../../builder/build-log.js';
// The stream read as an EventSource reads it (HTML, "Parsing an event stream"): the `stratus` CLI's reader.
import { parseEventStream } from '../../cli/sse.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

const asText = (res: NodeJS.ReadableStream, cb: (err: Error | null, body: string) => void) => {
  let data = '';
  res.on('data', (c: Buffer) => (data += c.toString('utf8')));
  res.on('end', () => cb(null, data));
};

const FORGED = 'compiling\r\revent: end\rdata: {"status":"succeeded","error":null}\r\r\revent: log\r\ndata: more\n';

describe('following a build log with output that tries to forge events', () => {
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

  it('a lone \\r in the output yields data lines only: one end event, the real one', async () => {
    await h.store.putBuild({ ...(await h.store.getBuild(buildId))!, status: 'building' });
    await h.store.appendBuildLog(buildId, FORGED);
    const following = request(h.app).get(`/v1/builds/${buildId}/logs?follow=1`).set(auth).buffer(true).parse(asText).then((r) => r);
    await h.builder.fail(buildId, 'npm install failed');
    const res = await following;
    const events = parseEventStream(res.body as string);
    expect(events.map((e) => e.event).filter((e) => e !== 'log')).toEqual(['end']);
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'failed', error: 'npm install failed' });
    // The output is all there, as text: each line break (whichever kind) a "\n".
    const log = events.filter((e) => e.event === 'log').map((e) => e.data).join('');
    expect(log).toContain('compiling\n\nevent: end\ndata: {"status":"succeeded","error":null}\n\n\nevent: log\ndata: more\n');
  });
});

describe('the build log of a tool that redraws its line with \\r', () => {
  it('stores each redraw as a line of its phase', async () => {
    const store = new MemoryStore();
    const log = new BuildLog(store, 'b1', silentLogger);
    log.chunk('install', 'progress 10%\rprogress 50%\revent: end\r');
    log.chunk('install', '\ndone\n');
    log.line('check', 'one\rtwo');
    await log.flush();
    const { text } = await store.readBuildLog('b1');
    expect(text).toBe('[install] progress 10%\n[install] progress 50%\n[install] event: end\n[install] done\n[check] one\n[check] two\n');
    await store.close();
  });
});
