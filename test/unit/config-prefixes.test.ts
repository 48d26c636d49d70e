// What keeps two Stratus apart when they share a host, a Redis or a registry: every per-platform name is
// derived from the state dir by default, and an explicit setting wins.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { platformIdFor } from '../../core/platform-id.js';

describe('per-platform names', () => {
  it('two state dirs get different image and Redis prefixes, both the platform id', () => {
    const a = loadConfig({ STRATUS_STATE_DIR: '/srv/a/.stratus' });
    const b = loadConfig({ STRATUS_STATE_DIR: '/srv/b/.stratus' });
    expect(a.images.prefix).toBe(platformIdFor('/srv/a/.stratus'));
    expect(a.store.redisPrefix).toBe(`${platformIdFor('/srv/a/.stratus')}:`);
    expect(a.images.prefix).not.toBe(b.images.prefix);
    expect(a.store.redisPrefix).not.toBe(b.store.redisPrefix);
  });

  it('the same state dir keeps its names across restarts, and an explicit prefix wins', () => {
    expect(loadConfig({ STRATUS_STATE_DIR: '/srv/a/.stratus' }).images.prefix).toBe(loadConfig({ STRATUS_STATE_DIR: '/srv/a/.stratus' }).images.prefix);
    expect(loadConfig({ STRATUS_STATE_DIR: '/srv/a/.stratus', STRATUS_IMAGE_PREFIX: 'team/fn' }).images.prefix).toBe('team/fn');
  });

  it('replicas with their own state dirs are one platform with STRATUS_PLATFORM_ID: its id and image prefix', () => {
    const a = loadConfig({ STRATUS_STATE_DIR: '/srv/r1/.stratus', STRATUS_PLATFORM_ID: 'shop' });
    const b = loadConfig({ STRATUS_STATE_DIR: '/srv/r2/.stratus', STRATUS_PLATFORM_ID: 'shop' });
    expect([a.platformId, b.platformId]).toEqual(['shop', 'shop']);
    expect([a.images.prefix, b.images.prefix]).toEqual(['shop', 'shop']);
    expect(loadConfig({ STRATUS_STATE_DIR: '/srv/a/.stratus' }).platformId).toBe(platformIdFor('/srv/a/.stratus'));
    expect(() => loadConfig({ STRATUS_PLATFORM_ID: 'Shop_1' })).toThrow(/STRATUS_PLATFORM_ID/);
    expect(() => loadConfig({ STRATUS_PLATFORM_ID: '-shop' })).toThrow(/STRATUS_PLATFORM_ID/);
  });

  it('the drain notice is part of the stop: shorter than STRATUS_STOP_TIMEOUT_MS, 0 by default', () => {
    expect(loadConfig({}).drainNoticeMs).toBe(0);
    expect(loadConfig({ STRATUS_DRAIN_NOTICE_MS: '3000' }).drainNoticeMs).toBe(3000);
    expect(() => loadConfig({ STRATUS_DRAIN_NOTICE_MS: '60000' })).toThrow(/STRATUS_DRAIN_NOTICE_MS: must be less than STRATUS_STOP_TIMEOUT_MS/);
  });
});
