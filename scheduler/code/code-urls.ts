// The backends' side of code over HTTP: for a stem being specialized, a URL it may fetch its version's code
// from for a few seconds, and the digest the runtime checks (core/code-url.ts signs, the gateway's
// code route serves, scheduler/code/code-archives.ts packs).

import { signCodePath } from '../../core/code-url.js';
import { StratusError } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { CodeArchives } from './code-archives.js';

export interface RemoteCode {
  codeUrl: string;
  /** Hex SHA-256 of the archive the URL answers. */
  sha256: string;
}

export interface CodeUrlIssuer {
  /** `artifactDir`: the code tree being started, when the caller has it (see CodeArchives.get). */
  issue(fn: string, version: number, artifactDir?: string | null): Promise<RemoteCode>;
}

export interface SignedCodeUrlsOptions {
  key: Buffer;
  /** Where instances reach Stratus, without a trailing slash: http://stratus.stratus.svc:8080, or a name the stem's socket stands for. */
  baseUrl: string;
  archives: CodeArchives;
  clock: Clock;
  /** How long a URL stays valid: long enough for a stem to start fetching, short enough to be useless later. */
  ttlMs?: number;
}

export const DEFAULT_CODE_URL_TTL_MS = 30_000;

export class SignedCodeUrls implements CodeUrlIssuer {
  constructor(private readonly o: SignedCodeUrlsOptions) {}

  async issue(fn: string, version: number, artifactDir?: string | null): Promise<RemoteCode> {
    const archive = await this.o.archives.get(fn, version, artifactDir);
    if (!archive) throw new StratusError('INSTANCE_START_FAILED', `version ${version} of ${fn} has no code tree to hand to a stem`);
    const path = signCodePath(this.o.key, fn, version, this.o.clock.now() + (this.o.ttlMs ?? DEFAULT_CODE_URL_TTL_MS));
    return { codeUrl: `${this.o.baseUrl.replace(/\/+$/, '')}${path}`, sha256: archive.sha256 };
  }
}
