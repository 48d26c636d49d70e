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
});
