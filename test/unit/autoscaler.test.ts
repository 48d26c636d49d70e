// The autoscaler is pure arithmetic over explicit `now` values: every test drives a manual clock
// second by second, records the concurrency it wants the window to see, and checks the decision.

import { describe, expect, it } from 'vitest';
import { Autoscaler, type AutoscalerSettings, type ScaleDecision, type ScaleInput } from '../../scheduler/autoscaler.js';
import { ManualClock } from '../../core/lifecycle.js';
import { StratusError } from '../../core/errors.js';

const S = 1000;
const KPA: AutoscalerSettings = { stableWindowMs: 60 * S, panicWindowMs: 6 * S, targetUtilization: 1 };

function input(over: Partial<ScaleInput> & { now: number }): ScaleInput {
  return { readyInstances: 0, perInstanceConcurrency: 10, minInstances: 0, maxInstances: 100, idleTtlMs: 120 * S, lastRequestAt: null, ...over };
}

/** Records `concurrency` once a second for `seconds` seconds, advancing the clock after each sample. */
function feed(a: Autoscaler, clock: ManualClock, seconds: number, concurrency: number): void {
  for (let i = 0; i < seconds; i++) {
    a.record(clock.now(), concurrency);
    clock.advance(S);
  }
}

describe('Autoscaler: steady load', () => {
  it('asks for ceil(concurrency / target) instances', () => {
    const clock = new ManualClock();
    const a = new Autoscaler(KPA);
    feed(a, clock, 60, 25);
    const d = a.decide(input({ now: clock.now() - S, readyInstances: 3, lastRequestAt: clock.now() - S }));
    expect(d).toMatchObject({ desired: 3, panic: false, stableConcurrency: 25, panicConcurrency: 25 });
    expect(d.reason).toMatch(/^stable/);
  });

  it('applies the target utilisation to the per-instance concurrency', () => {
    const clock = new ManualClock();
    const a = new Autoscaler({ ...KPA, targetUtilization: 0.7 });
    feed(a, clock, 60, 21); // target 10 × 0.7 = 7 per instance
    expect(a.decide(input({ now: clock.now() - S, readyInstances: 3, lastRequestAt: 0 })).desired).toBe(3);
  });

  it('does not round a floating-point ratio such as 2.1 / 0.7 (3.0000000000000004) up by one', () => {
    const a = new Autoscaler({ ...KPA, targetUtilization: 0.7 });
    a.record(0, 2.1);
    const d = a.decide(input({ now: 0, readyInstances: 3, perInstanceConcurrency: 1, lastRequestAt: 0 }));
    expect(d.desired).toBe(3);
  });

  it('with target utilisation 1 and concurrency 1, one instance per concurrent request', () => {
    const clock = new ManualClock();
    const a = new Autoscaler(KPA);
    feed(a, clock, 60, 1);
    expect(a.decide(input({ now: clock.now() - S, readyInstances: 1, perInstanceConcurrency: 1, lastRequestAt: 0 })).desired).toBe(1);
    feed(a, clock, 60, 3);
    expect(a.decide(input({ now: clock.now() - S, readyInstances: 3, perInstanceConcurrency: 1, lastRequestAt: 0 })).desired).toBe(3);
  });

  it('averages several samples within one second and counts a missing second as 0', () => {
    const a = new Autoscaler(KPA);
    a.record(0, 10);
    a.record(500, 30); // second 0 averages to 20
    a.record(3 * S, 20); // seconds 1 and 2 have no sample
    const d = a.decide(input({ now: 3 * S, readyInstances: 4, lastRequestAt: 3 * S }));
    expect(d.stableConcurrency).toBe((20 + 0 + 0 + 20) / 4);
  });

  it('scales up from zero on any demand', () => {
    const a = new Autoscaler(KPA);
    a.record(0, 1);
    const d = a.decide(input({ now: 0, readyInstances: 0, lastRequestAt: 0 }));
    expect(d.desired).toBe(1);
  });
});

describe('Autoscaler: panic', () => {
  /** One instance serving a concurrency of 1 for a minute, then a step to 50. */
  function stepTo50(): { a: Autoscaler; clock: ManualClock; decisions: ScaleDecision[] } {
    const clock = new ManualClock();
    const a = new Autoscaler(KPA);
    feed(a, clock, 60, 1);
    const decisions: ScaleDecision[] = [];
    let ready = 1;
    for (let i = 0; i < 6; i++) {
      a.record(clock.now(), 50);
      const d = a.decide(input({ now: clock.now(), readyInstances: ready, lastRequestAt: clock.now() }));
      decisions.push(d);
      ready = d.desired;
      clock.advance(S);
    }
    return { a, clock, decisions };
  }

  it('a step from 1 to 50 enters panic and scales up within the panic window', () => {
    const { decisions } = stepTo50();
    expect(decisions.some((d) => d.panic)).toBe(true);
    expect(decisions.at(-1)).toMatchObject({ panic: true, desired: 5, panicConcurrency: 50 });
    expect(decisions.at(-1)!.stableConcurrency).toBeLessThan(10); // the stable window alone would ask for 1
    expect(decisions.at(-1)!.reason).toMatch(/^panic/);
  });

  it('does not scale down while panicking, then follows the stable window once panic has ended', () => {
    const { a, clock } = stepTo50();
    let ready = 5;
    const during: ScaleDecision[] = [];
    // Load stops. The panic condition last held a few seconds ago; panic lasts a stable window after it.
    for (let i = 0; i < 50; i++) {
      const d = a.decide(input({ now: clock.now(), readyInstances: ready, lastRequestAt: clock.now() - i * S }));
      during.push(d);
      ready = d.desired;
      clock.advance(S);
    }
    expect(during.every((d) => d.panic && d.desired === 5)).toBe(true);
    expect(during.at(-1)!.panicConcurrency).toBe(0);

    clock.advance(20 * S);
    const after = a.decide(input({ now: clock.now(), readyInstances: ready, lastRequestAt: clock.now() - 70 * S }));
    expect(after.panic).toBe(false);
    expect(after.desired).toBe(1); // no demand left in the stable window; a request within the TTL keeps one
  });

  it('keeps following the panic demand upward when it grows further', () => {
    const { a, clock } = stepTo50();
    feed(a, clock, 6, 120);
    const d = a.decide(input({ now: clock.now() - S, readyInstances: 5, lastRequestAt: clock.now() }));
    expect(d).toMatchObject({ panic: true, desired: 12 });
  });

  it('honours a custom panic threshold', () => {
    const clock = new ManualClock();
    const a = new Autoscaler({ ...KPA, panicThreshold: 10 });
    feed(a, clock, 6, 50); // 50 / (1 × 10) = 5, below 10
    expect(a.decide(input({ now: clock.now() - S, readyInstances: 1, lastRequestAt: 0 })).panic).toBe(false);
  });
});

describe('Autoscaler: scale-down and scale to zero', () => {
  it('scales down over the stable window after load stops, keeps one until the idle TTL, then zero', () => {
    const clock = new ManualClock();
    const a = new Autoscaler(KPA);
    feed(a, clock, 60, 30); // seconds 0..59 at 30: three instances of 10
    const lastRequestAt = 59 * S;
    const at = (sec: number, ready: number) => a.decide(input({ now: sec * S, readyInstances: ready, lastRequestAt }));
    expect(at(59, 3).desired).toBe(3);
    expect(at(70, 3).desired).toBe(3); // 49 s of 30 in the window: 24.5
    expect(at(80, 3).desired).toBe(2); // 39 s: 19.5
    expect(at(100, 2).desired).toBe(1); // 19 s: 9.5
    const warm = at(119, 1); // the window is empty, but a request came 60 s ago (TTL 120 s)
    expect(warm).toMatchObject({ desired: 1, stableConcurrency: 0 });
    expect(warm.reason).toMatch(/warm/);
    expect(at(178, 1).desired).toBe(1);
    const zero = at(179, 1);
    expect(zero.desired).toBe(0);
    expect(zero.reason).toMatch(/scale to zero/);
  });

  it('never scales below minInstances, even idle past the TTL', () => {
    const a = new Autoscaler(KPA);
    const d = a.decide(input({ now: 1_000 * S, readyInstances: 2, minInstances: 2, lastRequestAt: 0 }));
    expect(d.desired).toBe(2);
    expect(d.reason).toMatch(/minInstances/);
  });

  it('never scales above maxInstances, in stable mode or in panic', () => {
    const clock = new ManualClock();
    const a = new Autoscaler(KPA);
    feed(a, clock, 60, 500);
    const d = a.decide(input({ now: clock.now() - S, readyInstances: 1, maxInstances: 4, lastRequestAt: 0 }));
    expect(d).toMatchObject({ desired: 4, panic: true });
    expect(d.reason).toMatch(/maxInstances 4/);
  });

  it('starts nothing for a function never used, and lets a pre-warmed instance go after the TTL', () => {
    const a = new Autoscaler(KPA);
    expect(a.decide(input({ now: 0, readyInstances: 0 })).desired).toBe(0);
    expect(a.decide(input({ now: 60 * S, readyInstances: 1 })).desired).toBe(1);
    expect(a.decide(input({ now: 120 * S, readyInstances: 1 })).desired).toBe(0);
  });
});

describe('Autoscaler: memory and validation', () => {
  it('stays exact over a long run: the ring of buckets wraps without growing', () => {
    const a = new Autoscaler(KPA);
    const history: number[] = [];
    const seconds = 200_000;
    for (let s = 0; s < seconds; s++) {
      const c = (s * 7919) % 37; // a deterministic, irregular load
      history.push(c);
      a.record(s * S, c);
    }
    expect(a.bucketCount).toBe(60);
    const last = seconds - 1;
    const d = a.decide(input({ now: last * S, readyInstances: 10, lastRequestAt: last * S }));
    const mean = (n: number) => history.slice(-n).reduce((x, y) => x + y, 0) / n;
    expect(d.stableConcurrency).toBeCloseTo(mean(60), 9);
    expect(d.panicConcurrency).toBeCloseTo(mean(6), 9);
  });

  it('ignores samples older than the stable window', () => {
    const a = new Autoscaler(KPA);
    a.record(100 * S, 10);
    a.record(30 * S, 1_000); // its slot now holds second 90.. onward; it must not overwrite newer data
    const d = a.decide(input({ now: 100 * S, readyInstances: 1, lastRequestAt: 100 * S }));
    expect(d.stableConcurrency).toBe(10);
  });

  it('rejects settings that make no sense', () => {
    expect(() => new Autoscaler({ ...KPA, targetUtilization: 0 })).toThrow(StratusError);
    expect(() => new Autoscaler({ ...KPA, targetUtilization: 1.5 })).toThrow(/targetUtilization/);
    expect(() => new Autoscaler({ ...KPA, panicWindowMs: 120 * S })).toThrow(/panicWindowMs/);
    expect(() => new Autoscaler({ ...KPA, panicThreshold: 0.5 })).toThrow(/panicThreshold/);
  });
});
