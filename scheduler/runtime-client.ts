// The two control calls the scheduler makes to a runtime (runtime-images/README.md): POST /init to
// specialize a stem, GET /healthz to check an instance after a timed-out request. Everything else that
// reaches an instance is an invocation, proxied by the gateway.

import http from 'node:http';
import type { StagedCode } from './backends/backend.js';
import type { RequestOptions } from './instance.js';

/** The body of POST /init: where the code is (a directory, or a signed URL with the archive's digest), and what to run. */
export type InitPayload = StagedCode & {
  handler: string;
  function: string;
  version: number;
  env: Record<string, string>;
  /** Calls the instance runs at once; the runtime holds the rest. */
  concurrency: number;
};

export interface RuntimeResponse {
  status: number;
  body: string;
}

function call(
  target: RequestOptions,
  agent: http.Agent | undefined,
  method: string,
  path: string,
  timeoutMs: number,
  body?: string,
): Promise<RuntimeResponse> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request({ ...target, agent: agent ?? false, method, path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        // An error body is only kept for the log: cap it so a chatty runtime cannot grow memory.
        if (size < 16_384) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 16_384) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} got no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function postInit(target: RequestOptions, agent: http.Agent, payload: InitPayload, timeoutMs: number): Promise<RuntimeResponse> {
  return call(target, agent, 'POST', '/init', timeoutMs, JSON.stringify(payload));
}

/** True when GET /healthz answers 200 in time. A fresh connection (no agent) so a wedged pooled socket does not fool it. */
export async function isHealthy(target: RequestOptions, timeoutMs: number): Promise<boolean> {
  try {
    const res = await call(target, undefined, 'GET', '/healthz', timeoutMs);
    return res.status === 200;
  } catch {
    return false;
  }
}
