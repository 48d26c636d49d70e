// The throttle of wrong admin keys (gateway/api/auth-throttle.ts) and how it names clients
// (gateway/api/client-address.ts): per client only, a window from the first failure that more tries do not
// stretch, a bounded memory under a flood of addresses, IPv6 counted by /64, and X-Forwarded-For read only
// through proxies the operator trusts. Over HTTP: auth-throttle-http.test.ts.

import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import { ManualClock } from '../../core/lifecycle.js';
import { AuthThrottle } from '../../gateway/api/auth-throttle.js';
import { clientAddress, clientKey } from '../../gateway/api/client-address.js';

const limits = { maxFailures: 3, windowMs: 60_000, maxClients: 100 };

describe('AuthThrottle', () => {
  it('refuses a client past its failures until the window of its first one ends, and no one else', () => {
    const clock = new ManualClock(1_000_000);
    const t = new AuthThrottle(clock, limits);
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfter('a')).toBe(0);
      t.failed('a');
      clock.advance(1000);
    }
    expect(t.retryAfter('a')).toBe(57); // the first failure's window ends 60 s after it
    expect(t.retryAfter('b')).toBe(0); // someone else's failures are not mine
    t.failed('a'); // a try while refused (callers do not count it, but even if they did) does not stretch it
    clock.advance(56_500);
    expect(t.retryAfter('a')).toBe(1); // never "0 s" while still refused
    clock.advance(500);
    expect(t.retryAfter('a')).toBe(0);
    t.failed('a'); // a new window starts with the next failure
    expect(t.retryAfter('a')).toBe(0);
  });

  it('never lets many clients together lock out one that has not failed', () => {
    const clock = new ManualClock(0);
    const t = new AuthThrottle(clock, { ...limits, maxClients: 10_000 });
    for (let c = 0; c < 5000; c++) for (let i = 0; i < 3; i++) t.failed(`10.0.${c >> 8}.${c & 255}`);
    expect(t.retryAfter('10.0.0.1')).toBeGreaterThan(0);
    expect(t.retryAfter('192.0.2.1')).toBe(0);
  });

  it('stays within maxClients under a flood of addresses, keeping the newest', () => {
    const clock = new ManualClock(0);
    const t = new AuthThrottle(clock, limits);
    for (let c = 0; c < 100_000; c++) {
      t.failed(`client-${c}`);
      if (c % 1000 === 0) {
        clock.advance(1); // time moves a little during the flood
        expect(t.size).toBeLessThanOrEqual(100);
      }
    }
    expect(t.size).toBe(100);
    // The newest clients are remembered: the last one, locked now, stays locked.
    for (let i = 0; i < 2; i++) t.failed('client-99999');
    expect(t.retryAfter('client-99999')).toBeGreaterThan(0);
    // An expired window is forgotten as calls come, without a timer.
    clock.advance(60_000);
    expect(t.retryAfter('anyone')).toBe(0);
    expect(t.size).toBe(0);
  });
});

describe('client addresses', () => {
  it('counts IPv4 as itself, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:eeee:dddd:cccc')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey(undefined)).toBe('unknown');
    expect(clientKey('not an address')).toBe('not an address');
  });

  const req = (peer: string, forwarded?: string) =>
    ({ socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as http.IncomingMessage;

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', () => {
    const direct = clientAddress([]);
    expect(direct(req('198.51.100.1', '203.0.113.9'))).toBe('198.51.100.1');
    const behind = clientAddress(['127.0.0.1', '10.0.0.0/8']);
    expect(behind(req('127.0.0.1', '203.0.113.9'))).toBe('203.0.113.9');
    // A client that writes its own header before the proxy appends the real address gains nothing.
    expect(behind(req('127.0.0.1', '1.2.3.4, 203.0.113.9'))).toBe('203.0.113.9');
    // Through two trusted proxies: the first address neither of them is.
    expect(behind(req('127.0.0.1', '1.2.3.4, 203.0.113.9, 10.1.2.3'))).toBe('203.0.113.9');
    // A peer that is not a trusted proxy is the client, whatever it says.
    expect(behind(req('198.51.100.1', '203.0.113.9'))).toBe('198.51.100.1');
    // An IPv6 client behind the proxy is counted by its /64 too.
    expect(behind(req('::ffff:127.0.0.1', '2001:db8:5:6::77'))).toBe('2001:db8:5:6::/64');
    // Named ranges, as proxy-addr knows them.
    expect(clientAddress(['loopback'])(req('127.0.0.1', '203.0.113.9'))).toBe('203.0.113.9');
  });

  it('validates STRATUS_TRUSTED_PROXIES and the throttle settings at start', () => {
    const base = { STRATUS_STATE_DIR: '/tmp/stratus-auth-throttle-test' };
    expect(loadConfig(base).auth).toEqual({ maxFailures: 10, windowMs: 60_000, trustedProxies: [] });
    expect(loadConfig({ ...base, STRATUS_TRUSTED_PROXIES: ' 127.0.0.1, 10.0.0.0/8 ,loopback', STRATUS_AUTH_MAX_FAILURES: '5', STRATUS_AUTH_WINDOW_MS: '30000' }).auth)
      .toEqual({ maxFailures: 5, windowMs: 30_000, trustedProxies: ['127.0.0.1', '10.0.0.0/8', 'loopback'] });
    for (const [name, value] of [['STRATUS_TRUSTED_PROXIES', 'proxy.example.test'], ['STRATUS_TRUSTED_PROXIES', '10.0.0.0/99'], ['STRATUS_AUTH_MAX_FAILURES', '0'], ['STRATUS_AUTH_WINDOW_MS', '10']] as const) {
      let err: unknown;
      try {
        loadConfig({ ...base, [name]: value });
      } catch (e) {
        err = e;
      }
      expect(err, `${name}=${value}`).toBeInstanceOf(StratusError);
      expect((err as StratusError).details.field).toBe(name);
    }
  });
});

describe('a proxy nobody named', () => {
  const req = (peer: string, headers: http.IncomingHttpHeaders = {}) => ({ socket: { remoteAddress: peer }, headers }) as unknown as http.IncomingMessage;

  it('is said once, naming its address, when its requests carry X-Forwarded-For; its clients stay one client', () => {
    const told: string[] = [];
    const of = clientAddress([], (peer) => told.push(peer));
    expect(of(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(told).toEqual([]);
    expect(of(req('127.0.0.1', { 'x-forwarded-for': '198.51.100.7' }))).toBe('127.0.0.1');
    expect(of(req('127.0.0.1', { 'x-forwarded-for': '198.51.100.8' }))).toBe('127.0.0.1');
    expect(told).toEqual(['127.0.0.1']);
  });
});
