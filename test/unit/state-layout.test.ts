// The state dir's layout (core/state-layout.ts): the paths other code and operators rely on, and a build id
// or function name that could climb out of its dir refused rather than followed.

import { describe, expect, it } from 'vitest';
import { StateLayout } from '../../core/state-layout.js';

describe('StateLayout', () => {
  const state = new StateLayout('/srv/stratus');

  it('names every file and dir under the state dir', () => {
    expect(state.apiKey).toBe('/srv/stratus/api-key');
    expect(state.usedMarker('redis')).toBe('/srv/stratus/used-redis');
    expect(state.runDir).toBe('/srv/stratus/run');
    expect(state.upload('b-1')).toBe('/srv/stratus/uploads/b-1');
    expect(state.work('b-1')).toBe('/srv/stratus/work/b-1');
    expect(state.artifactsOf('hello')).toBe('/srv/stratus/artifacts/hello');
    expect(state.artifact('hello', 3)).toBe('/srv/stratus/artifacts/hello/v3');
    expect(state.git).toBe('/srv/stratus/git');
    expect(state.gitFetch('b-1')).toBe('/srv/stratus/git/b-1');
    expect(state.storage).toBe('/srv/stratus/storage');
  });

  it('refuses a build id or a function name that is not one path segment', () => {
    for (const bad of ['', '.', '..', '../etc', 'a/b', 'a\\b', 'a\0b']) {
      expect(() => state.upload(bad), bad).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
      expect(() => state.artifactsOf(bad), bad).toThrow(/one path segment/);
    }
    expect(() => state.gitFetch('..')).toThrow(/one path segment/);
    expect(() => state.usedMarker('../x')).toThrow(/one path segment/);
  });

  it('keeps a build\'s source beside the artifacts, never inside a version\'s tree', () => {
    expect(state.source('hello', 'b-1')).toBe('/srv/stratus/artifacts/hello/sources/b-1');
    expect(state.source('hello', 'b-1').startsWith(`${state.artifactsOf('hello')}/`)).toBe(true); // a delete removes it
    expect(() => state.source('hello', '../v1')).toThrow(/one path segment/);
    expect(() => state.source('..', 'b-1')).toThrow(/one path segment/);
  });

  it('refuses a version that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => state.artifact('hello', bad), String(bad)).toThrow(/positive integer/);
  });
});
