// GET /internal/code/<function>/<version>?expires=…&sig=… — a version's code archive for a stem that is
// being specialized (scheduler/code/code-archives.ts, core/code-url.ts). Authorised by the URL's signature
// alone (stems carry no key); it serves archives by (function, version) and nothing else: no part of the URL
// becomes a path, the version's record says where its code is. Reachable by instances: on Kubernetes at
// the gateway Service (STRATUS_INTERNAL_URL), on Docker through a unix socket in each stem's mounted dir.

import type http from 'node:http';
import { StratusError } from '../../core/errors.js';
import { verifyCodePath } from '../../core/code-url.js';
import { newRequestId } from '../../core/ids.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { CodeArchives } from '../../scheduler/code/code-archives.js';
import { sendProblem } from '../http/problem.js';

export interface CodeRouteDeps {
  key: Buffer;
  archives: CodeArchives;
  clock: Clock;
  logger: Logger;
}

export function createCodeRoute(deps: CodeRouteDeps): http.RequestListener {
  const log = deps.logger.child({ component: 'code-route' });
  return (req, res) => {
    const requestId = newRequestId();
    const fail = (err: unknown) => sendProblem(res, err, requestId, log);
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return fail(new StratusError('INVALID_REQUEST', `${req.method} is not served here: a code URL is fetched with GET`));
    }
    const check = verifyCodePath(deps.key, req.url ?? '/', deps.clock.now());
    if (!check.ok) {
      const why = check.why === 'expired' ? 'the code URL has expired; the platform issues a fresh one with each start' : 'the code URL is not one this platform signed';
      return fail(new StratusError('UNAUTHORIZED', why));
    }
    deps.archives.get(check.function, check.version).then(
      (archive) => {
        if (!archive) return fail(new StratusError('NOT_FOUND', `version ${check.version} of ${check.function} has no code here`));
        res.writeHead(200, {
          'content-type': 'application/gzip',
          'content-length': archive.bytes.length,
          'x-stratus-code-sha256': archive.sha256,
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : archive.bytes);
      },
      (err: unknown) => fail(err),
    );
  };
}
