// The cron preview (control/triggers/cron-preview.ts) and its door GET /v1/triggers/cron-preview: the next
// fire times of a schedule as the scheduler will run it (seconds, time zones, leap days), refused for what a
// trigger is refused for, bounded in how many times it lists, and leaving no node-cron task behind.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import cron from 'node-cron';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_PREVIEW_FIRES, previewCron } from '../../control/triggers/cron-preview.js';
import { StratusError } from '../../core/errors.js';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

const parisTime = (iso: string) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));

describe('previewCron', () => {
  it('lists the next fires of a six-field schedule, second by second, from now', () => {
    const before = Date.now();
    const { next, timezone } = previewCron({ schedule: '* * * * * *' }, 3);
    expect(timezone).toBe('UTC');
    const ms = next.map((t) => Date.parse(t));
    expect(ms[0]).toBeGreaterThan(before - 1000);
    expect(ms[0]).toBeLessThanOrEqual(before + 2000);
    expect([ms[1]! - ms[0]!, ms[2]! - ms[1]!]).toEqual([1000, 1000]);
  });

  it('computes in the trigger\'s time zone and finds rare dates', () => {
    const weekly = previewCron({ schedule: '30 9 * * 1', timezone: 'Europe/Paris' }, 4);
    expect(weekly.next).toHaveLength(4);
    for (const t of weekly.next) expect(parisTime(t)).toBe('Mon 09:30');
    const leap = previewCron({ schedule: '0 0 29 2 *' }, 2).next;
    for (const t of leap) expect(t).toMatch(/^\d{4}-02-29T00:00:00\.000Z$/);
    expect(Number(leap[1]!.slice(0, 4)) - Number(leap[0]!.slice(0, 4))).toBe(4);
  });

  it('refuses what a cron trigger is refused for, naming the field, and counts out of bounds', () => {
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(StratusError);
        return { code: (err as StratusError).code, field: (err as StratusError).details.field, message: (err as Error).message };
      }
      throw new Error('not refused');
    };
    expect(refusal(() => previewCron({ schedule: '61 * * * *' }))).toMatchObject({ code: 'INVALID_TRIGGER', field: 'body.schedule', message: expect.stringMatching(/not a valid cron expression/) });
    expect(refusal(() => previewCron({ schedule: '* * *' }, 5, 'query'))).toMatchObject({ code: 'INVALID_TRIGGER', field: 'query.schedule', message: expect.stringMatching(/5 fields/) });
    expect(refusal(() => previewCron({ schedule: '* * * * *', timezone: 'Mars/Olympus' }))).toMatchObject({ code: 'INVALID_TRIGGER', field: 'body.timezone' });
    for (const count of [0, MAX_PREVIEW_FIRES + 1, 1.5, Number.NaN]) {
      expect(refusal(() => previewCron({ schedule: '* * * * *' }, count))).toMatchObject({ code: 'INVALID_REQUEST', field: 'body.count' });
    }
    expect(previewCron({ schedule: '* * * * *' }, MAX_PREVIEW_FIRES).next).toHaveLength(MAX_PREVIEW_FIRES);
  });

  it('leaves no node-cron task registered (nothing is scheduled by a preview)', () => {
    const before = cron.getTasks().size;
    for (let i = 0; i < 5; i++) previewCron({ schedule: '*/5 * * * * *' });
    expect(cron.getTasks().size).toBe(before);
  });
});

describe('GET /v1/triggers/cron-preview', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  const get = (query: string) => request(h.app).get(`/v1/triggers/cron-preview?${query}`).set(auth);
  const expectProblem = (res: request.Response, code: string, field: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code, field });
  };

  it('answers the next fires, five by default, up to the bound', async () => {
    const res = await get(`schedule=${encodeURIComponent('0 9 * * 1')}&timezone=Europe/Paris`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ schedule: '0 9 * * 1', timezone: 'Europe/Paris' });
    expect(res.body.next).toHaveLength(5);
    for (const t of res.body.next as string[]) expect(parisTime(t)).toBe('Mon 09:00');
    expect((await get(`schedule=${encodeURIComponent('* * * * *')}&count=${MAX_PREVIEW_FIRES}`)).body.next).toHaveLength(MAX_PREVIEW_FIRES);
  });

  it('refuses a bad schedule, zone or count with a problem naming the parameter', async () => {
    expectProblem(await get(''), 'INVALID_REQUEST', 'query.schedule');
    expectProblem(await get(`schedule=${encodeURIComponent('*/0 * * * *')}`), 'INVALID_TRIGGER', 'query.schedule');
    expectProblem(await get(`schedule=${encodeURIComponent('* * * * *')}&timezone=Nowhere/Town`), 'INVALID_TRIGGER', 'query.timezone');
    expectProblem(await get(`schedule=${encodeURIComponent('* * * * *')}&count=${MAX_PREVIEW_FIRES + 1}`), 'INVALID_REQUEST', 'query.count');
    expectProblem(await get(`schedule=${encodeURIComponent('* * * * *')}&count=0`), 'INVALID_REQUEST', 'query.count');
    expectProblem(await get(`schedule=${encodeURIComponent('* * * * *')}&every=5`), 'INVALID_REQUEST', 'query.every');
  });

  it('is what `stratus cron-preview` prints', async () => {
    const server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-cli-home-'));
    try {
      const repo = path.resolve(import.meta.dirname, '../..');
      const run = (args: string[]) => promisify(execFile)(process.execPath, ['--import', pathToFileURL(path.join(repo, 'node_modules/tsx/dist/loader.mjs')).href, path.join(repo, 'cli/main.ts'), ...args], {
        env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', HOME: home, STRATUS_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, STRATUS_API_KEY: API_KEY },
      });
      const { stdout } = await run(['cron-preview', '30 9 * * 1', '--timezone', 'Europe/Paris', '--count', '3']);
      const times = stdout.trim().split('\n').slice(1);
      expect(stdout).toContain('30 9 * * 1 in Europe/Paris fires next at:');
      expect(times).toHaveLength(3);
      for (const t of times) expect(parisTime(t)).toBe('Mon 09:30');
      const bad = await run(['cron-preview', '* * *']).then(() => null, (err: { stderr: string; code: number }) => err);
      expect(bad?.code).toBe(1);
      expect(bad?.stderr).toContain('query.schedule: must have 5 fields');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);

  it('needs the admin key like the rest of /v1', async () => {
    expect((await request(h.app).get('/v1/triggers/cron-preview?schedule=*%20*%20*%20*%20*')).status).toBe(401);
  });
});
