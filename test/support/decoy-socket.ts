// A unix socket on the host that counts who dials it: the target a hostile function points its socket
// at, so "the gateway never connected to it" is a count, not an assumption.

import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface DecoySocket {
  readonly path: string;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startDecoySocket(): Promise<DecoySocket> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-decoy-'));
  const socketPath = path.join(dir, 'decoy.sock');
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\ndecoy');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    path: socketPath,
    get connections() {
      return connections;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
