// A platform with its S3 endpoint on 127.0.0.1 for the storage suites (memory store, process backend: no
// Docker needed), an access key issued as a user gets one (POST /v1/storage/keys), and raw requests for
// tests that must go beneath a client (a captured request resent with another body).

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import type { TestKey } from './s3-sign.js';

export interface S3Platform {
  platform: RunningPlatform;
  endpoint: string;
  key: TestKey;
  /** <state>/storage: buckets/, uploads/, tmp/. */
  root: string;
  stop(): Promise<void>;
}

export async function startS3Platform(env: Record<string, string> = {}): Promise<S3Platform> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-s3-'));
  const platform = await startPlatform(loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_S3_MAX_OBJECT_MB: '64', ...env }), silentLogger);
  if (!platform.storage) throw new Error('the platform started without its S3 endpoint');
  const res = await fetch(`${platform.url}/v1/storage/keys`, { method: 'POST', headers: { authorization: `Bearer ${platform.apiKey}` } });
  if (res.status !== 201) throw new Error(`POST /v1/storage/keys answered ${res.status}: ${await res.text()}`);
  const key = (await res.json()) as TestKey;
  return {
    platform,
    endpoint: platform.storage.url,
    key: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    root: platform.storage.root,
    stop: async () => {
      await platform.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export interface RawAnswer {
  status: number;
  body: string;
}

/** One request exactly as given (headers, body bytes), for replays and forgeries. */
export function rawRequest(endpoint: string, method: string, pathName: string, headers: Record<string, string>, body?: Buffer): Promise<RawAnswer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: pathName, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer a refused body and close before reading it all: that is an answer, not a failure.
    req.on('error', reject);
    req.end(body);
  });
}

/** The S3 error code of an XML error answer. */
export function s3Code(answer: RawAnswer): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(answer.body)?.[1];
}
