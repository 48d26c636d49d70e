// GET /v1/builds/:id/report: the check stage's report as the store keeps it, with the build's status and
// the stage it failed in; an empty list before the checks ran; 404 for an unknown build.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../core/check-report.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

describe('control plane: /v1/builds/:id/report', () => {
  let h: Harness;
  const buildId = 'b-report';
  beforeEach(async () => {
    h = await startHarness();
    await h.store.putBuild({ id: buildId, function: 'hello', version: 1, status: 'queued', createdAt: 't0', startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
  });
  afterEach(async () => {
    await h.close();
  });

  it('is an empty list until the checks ran', async () => {
    const res = await request(h.app).get(`/v1/builds/${buildId}/report`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ buildId, status: 'queued', failedStage: null, checks: [] });
  });

  it('answers the kept report, with the stage the build failed in', async () => {
    const eslint: CheckResult = {
      tool: 'eslint', status: 'failed', durationMs: 900, exitCode: 1, output: 'error index.js:3:15 …',
      problems: [{ file: 'index.js', line: 3, column: 15, rule: 'no-undef', severity: 'error', message: "'countr' is not defined." }],
    };
    const npmTest: CheckResult = { tool: 'npm test', status: 'skipped', reason: 'package.json has no test script', durationMs: 0, exitCode: null, problems: [], output: '' };
    await h.store.putBuildReport(buildId, { checks: [eslint, npmTest] });
    await h.store.putBuild({ ...(await h.store.getBuild(buildId))!, status: 'failed', failedStage: 'check', error: 'checks failed: …' });
    const res = await request(h.app).get(`/v1/builds/${buildId}/report`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ buildId, status: 'failed', failedStage: 'check', checks: [eslint, npmTest] });
  });

  it('404 BUILD_NOT_FOUND for an unknown build, problem+json', async () => {
    const res = await request(h.app).get('/v1/builds/nope/report').set(auth);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('BUILD_NOT_FOUND');
  });
});
