// The dashboard's pure parts: escaping, where sign-in may send a browser, and the in-memory hour behind the
// charts (rates, errors, percentiles, samples). Sessions and their expiry: dashboard-sessions.test.ts. The
// sign-in throttle is gateway/api/auth-throttle.ts's, shared with /v1: test/unit/auth-throttle.test.ts.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/lifecycle.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { Activity, BUCKET_MS, percentile } from '../../gateway/ui/activity.js';
import { html } from '../../gateway/ui/html.js';
import { safeNext } from '../../gateway/ui/pages/login.js';

const record = (fn: string, durationMs: number, outcome: 'succeeded' | 'failed' = 'succeeded'): InvocationRecord => ({
  id: `${fn}-${Math.random()}`, function: fn, version: 1, trigger: 'http', start: new Date().toISOString(), durationMs, statusCode: outcome === 'failed' ? 500 : 200, outcome, billedMs: Math.ceil(durationMs), memoryMb: 128,
});

describe('dashboard templates', () => {
  it('escape every value, join arrays, and keep markup made by the template', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    const out = html`<td title="${name}">${name}</td>${[html`<b>${'a<b'}</b>`, 'c>d']}${null}${false}${0}`.value;
    expect(out).toBe('<td title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</td><b>a&lt;b</b>c&gt;d0');
  });

  it('send a browser after sign-in only to a dashboard path', () => {
    expect(safeNext('/ui/functions/hello?x=1')).toBe('/ui/functions/hello?x=1');
    for (const bad of ['//evil.example/ui', 'https://evil.example/ui', '/v1/functions', '/ui\\evil', 'javascript:alert(1)', undefined, ['/ui']]) expect(safeNext(bad)).toBe('/ui/functions');
  });
});

describe('the dashboard hour (activity)', () => {
  it('gives percentiles within 7 % from its histogram', () => {
    const clock = new ManualClock(BUCKET_MS * 1000);
    const a = new Activity(clock);
    for (let i = 1; i <= 1000; i++) a.record(record('f', i)); // 1 … 1000 ms
    const s = a.summary('f');
    expect(s.calls).toBe(1000);
    expect(s.p50! / 500).toBeGreaterThan(0.93);
    expect(s.p50! / 500).toBeLessThan(1.07);
    expect(s.p99! / 990).toBeGreaterThan(0.93);
    expect(s.p99! / 990).toBeLessThan(1.07);
    expect(percentile(new Uint32Array(10), 0.5)).toBeNull();
  });

  it('keeps calls, errors, cold starts and instances per 10-second bucket for an hour, and forgets a deleted function', async () => {
    const clock = new ManualClock(BUCKET_MS * 5000);
    const a = new Activity(clock);
    let cold = 7;
    const sampler = { functions: async () => ['f', 'g'], instances: (fn: string) => (fn === 'f' ? 2 : 0), coldStarts: () => cold };
    await a.sampleOnce(sampler); // the first sample only learns the counter
    for (let i = 0; i < 30; i++) a.record(record('f', 10, i % 10 === 0 ? 'failed' : 'succeeded'));
    a.record(record('g', 3));
    cold = 9;
    await a.sampleOnce(sampler);
    clock.advance(BUCKET_MS);
    a.record(record('f', 20));
    const f = a.series('f');
    expect(f.t.length).toBe(360);
    expect(f.t.at(-1)! - f.t[0]!).toBe((359 * BUCKET_MS) / 1000);
    expect(f.rate.at(-2)).toBe(3); // 30 calls in 10 s
    expect(f.errors.at(-2)).toBe(3);
    expect(f.cold.at(-2)).toBe(2);
    expect(f.instances.at(-2)).toBe(2);
    expect(f.rate.at(-1)).toBe(0.1);
    expect(f.p50.at(-3)).toBeNull();
    expect(a.series(null).rate.at(-2)).toBe(3.1);
    expect(a.summary('f', 60_000)).toMatchObject({ calls: 31, errorRate: 3 / 31 });

    clock.advance(3600_000); // an hour later the old buckets are gone
    expect(a.series('f').rate.every((r) => r === 0)).toBe(true);
    await a.sampleOnce({ ...sampler, functions: async () => ['g'] });
    expect(a.summary('f').calls).toBe(0);
    expect(a.series('f').instances.every((v) => v === null)).toBe(true);
    await a.close();
  });
});
