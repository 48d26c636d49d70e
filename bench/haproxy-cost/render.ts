// Writes the native data plane's haproxy.cfg (gateway/native/haproxy-config.ts) for run.sh, in one variant:
// full, nolog (no per-call line), noafter (no http-after-response rules), norules (none of the platform's
// per-call rules: deadline, timeout, forwarded headers, sandbox, response checks), static (HAProxy answers
// itself: no instance). Usage: tsx render.ts DIR SLOTS VARIANT LINES_PORT
import fs from 'node:fs';
import path from 'node:path';
import { renderHaproxyConfig } from '../../gateway/native/haproxy-config.js';

const [dir, slots, variant, linesPort] = [process.argv[2]!, Number(process.argv[3]), process.argv[4]!, Number(process.argv[5])];
let cfg = renderHaproxyConfig({
  dir, listen: { host: '127.0.0.1', port: Number(process.env.PORT ?? 18700) }, activator: { socketPath: path.join(dir, 'activator.sock') }, slots,
  functionsDomain: 'fn.localhost', callLines: { host: '127.0.0.1', port: linesPort }, lineToken: 'a'.repeat(32), callTimeoutMs: 905_000,
});
const drop = (re: RegExp) => cfg.split('\n').filter((l) => !re.test(l)).join('\n');
if (variant === 'nolog') cfg = cfg.replace(/^ {2}log .*$/m, '');
if (variant === 'noafter') cfg = drop(/http-after-response/);
if (variant === 'norules') cfg = drop(/http-after-response|http-response deny|x-stratus-deadline|set-timeout|txn.timeout_ms|option forwardfor|x-forwarded|del-header/);
if (variant === 'static') cfg = cfg.replace(/^ {2}default_backend .*$/m, '  http-request return status 200 content-type application/json string "{}"');
fs.writeFileSync(path.join(dir, 'haproxy.cfg'), cfg);
fs.writeFileSync(path.join(dir, 'routes.map'), variant === 'static' ? '' : 'x slot0\n');
fs.writeFileSync(path.join(dir, 'timeouts.map'), 'slot0 30000\n');
