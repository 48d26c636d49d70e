// What every command gets: the output, the process's surroundings (passed in, not read globally, so a
// command never depends on where it runs from), and the API client, resolved on first use so that
// `--help` or a usage error never needs a configured Stratus.

import { ApiClient } from './client.js';
import { resolveConnection, type ConfigSources } from './config.js';
import type { Ui } from './ui.js';

export interface Context extends ConfigSources {
  ui: Ui;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  client(): Promise<ApiClient>;
}

export function createContext(ui: Ui, sources: ConfigSources, stdin: Context['stdin']): Context {
  let client: Promise<ApiClient> | undefined;
  return {
    ...sources,
    ui,
    stdin,
    client: () => (client ??= resolveConnection(sources).then((conn) => new ApiClient(conn))),
  };
}

/** Reads all of stdin (for `--data @-` and a key piped to `stratus login`). */
export async function readStdin(stdin: Context['stdin']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
