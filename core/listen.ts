// Listening on a configured port: a port already taken, or one this user may not bind, is a setting to
// change, so it is said as one (which setting, what to do) rather than as a stack trace at start.

import type http from 'node:http';
import { StratusError } from './errors.js';

export async function listenOn(server: http.Server, port: number, host: string, setting: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new StratusError('INVALID_CONFIG', `${host}:${port} is already in use; stop what listens there or set ${setting} to another port`, { field: setting }));
      else if (err.code === 'EACCES') reject(new StratusError('INVALID_CONFIG', `${host}:${port} may not be bound by this user; set ${setting} to a port above 1023`, { field: setting }));
      else reject(err);
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}
