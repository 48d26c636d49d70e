// A port already taken at start is a setting to change: the error names it, instead of a stack trace.

import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOn } from '../../core/listen.js';

describe('listenOn', () => {
  const open: Array<net.Server | http.Server> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('returns the bound port (an ephemeral one for 0)', async () => {
    const server = http.createServer();
    open.push(server);
    expect(await listenOn(server, 0, '127.0.0.1', 'STRATUS_PORT')).toBeGreaterThan(0);
  });

  it('a port in use is INVALID_CONFIG naming the setting', async () => {
    const taken = net.createServer();
    open.push(taken);
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const err = await listenOn(http.createServer(), port, '127.0.0.1', 'STRATUS_S3_PORT').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', details: { field: 'STRATUS_S3_PORT' } });
    expect((err as Error).message).toMatch(new RegExp(`127.0.0.1:${port} is already in use.*STRATUS_S3_PORT`));
  });
});
