// The address classifier behind a push hook's clone URL (core/ip-policy.ts) and its operator setting,
// STRATUS_GIT_ALLOWED_NETWORKS, validated once by core/config.ts.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { AddressPolicy, parseNetwork } from '../../core/ip-policy.js';

const refusedBy = (policy: AddressPolicy, address: string) => {
  const v = policy.check(address);
  return v.allowed ? null : v.range;
};

describe('AddressPolicy', () => {
  const policy = new AddressPolicy();

  it('refuses every address that is not global unicast, naming its range', () => {
    const cases: Record<string, string> = {
      '127.0.0.1': 'loopback', '127.255.255.254': 'loopback', '0.0.0.0': 'unspecified', '0.1.2.3': 'unspecified',
      '10.1.2.3': 'private', '172.16.0.1': 'private', '172.31.255.255': 'private', '192.168.0.1': 'private',
      '169.254.169.254': 'linkLocal', '100.64.0.1': 'carrierGradeNat', '100.127.255.255': 'carrierGradeNat',
      '224.0.0.1': 'multicast', '239.255.255.250': 'multicast', '255.255.255.255': 'broadcast',
      '192.0.0.8': 'reserved', '192.0.2.1': 'reserved', '198.18.0.1': 'reserved', '203.0.113.9': 'reserved', '240.0.0.1': 'reserved',
      '::1': 'loopback', '::': 'unspecified', 'fc00::1': 'uniqueLocal', 'fd12:3456::1': 'uniqueLocal', 'fe80::1': 'linkLocal', 'ff02::1': 'multicast',
      '64:ff9b::7f00:1': 'rfc6052', '2002:7f00:1::': '6to4', '2001::1': 'teredo', '2001:db8::1': 'reserved',
      '::7f00:1': 'reserved (outside 2000::/3)', '100::1': 'discard', 'fec0::1': 'deprecatedSiteLocal',
    };
    for (const [address, range] of Object.entries(cases)) expect(refusedBy(policy, address), address).toBe(range);
  });

  it('judges an IPv4-mapped IPv6 address as the IPv4 address it is, in either spelling', () => {
    expect(policy.check('::ffff:127.0.0.1')).toEqual({ allowed: false, address: '127.0.0.1', range: 'loopback' });
    expect(policy.check('::ffff:7f00:1')).toEqual({ allowed: false, address: '127.0.0.1', range: 'loopback' });
    expect(policy.check('[::ffff:a9fe:a9fe]')).toEqual({ allowed: false, address: '169.254.169.254', range: 'linkLocal' });
    expect(policy.check('::ffff:8.8.8.8')).toEqual({ allowed: true, address: '8.8.8.8' });
  });

  it('allows global unicast addresses, IPv4 and IPv6 (2000::/3 only)', () => {
    for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '11.0.0.1', '2606:4700::1111', '2a00:1450::1']) expect(policy.check(a).allowed, a).toBe(true);
    expect(policy.check('not-an-address').allowed).toBe(false);
  });

  it('allows what the operator lists, and nothing next to it', () => {
    const open = new AddressPolicy(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8']);
    expect(open.check('127.0.0.1').allowed).toBe(true);
    expect(open.check('::ffff:127.0.0.1').allowed).toBe(true);
    expect(refusedBy(open, '127.0.0.2')).toBe('loopback');
    expect(open.check('10.200.1.1').allowed).toBe(true);
    expect(refusedBy(open, '11.0.0.1')).toBeNull(); // public anyway
    expect(open.check('fd12::1').allowed).toBe(true);
    expect(refusedBy(open, 'fc00::1')).toBe('uniqueLocal');
    expect(refusedBy(open, '::1')).toBe('loopback');
  });
});

describe('parseNetwork and STRATUS_GIT_ALLOWED_NETWORKS', () => {
  it('takes CIDRs and single addresses, IPv4 in four-part decimal only', () => {
    expect(parseNetwork('10.0.0.0/8')?.map(String)).toEqual(['10.0.0.0', '8']);
    expect(parseNetwork('127.0.0.1')?.map(String)).toEqual(['127.0.0.1', '32']);
    expect(parseNetwork('::1')?.map(String)).toEqual(['::1', '128']);
    expect(parseNetwork('::ffff:10.0.0.0/104')?.map(String)).toEqual(['10.0.0.0', '8']);
    for (const bad of ['127.1', '2130706433', '0x7f.0.0.1', '10.0.0.0/33', '::1/129', '10.0.0.0/8/8', 'localhost', '', '10.0.0.0/', '10.0.0.0/-1', '::ffff:10.0.0.0/8']) {
      expect(parseNetwork(bad), bad).toBeNull();
    }
  });

  it('is empty by default, normalized when given, and a wrong entry stops start-up naming it', () => {
    expect(loadConfig({}).git.allowedNetworks).toEqual([]);
    expect(loadConfig({ STRATUS_GIT_ALLOWED_NETWORKS: ' 127.0.0.1 , fd00::/8,10.0.0.0/8 ' }).git.allowedNetworks).toEqual(['127.0.0.1/32', 'fd00::/8', '10.0.0.0/8']);
    expect(() => loadConfig({ STRATUS_GIT_ALLOWED_NETWORKS: '10.0.0.0/8,127.1' })).toThrow(/STRATUS_GIT_ALLOWED_NETWORKS.*"127\.1": not a network/s);
  });
});
