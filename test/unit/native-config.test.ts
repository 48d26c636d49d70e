// The native data plane's pure parts: what the config refuses to render (addresses other than loopback and
// unix sockets), and the per-call line's parsing. What HAProxy does with the config is
// test/integration/native-proxy.test.ts, against the real binary.

import { describe, expect, it } from 'vitest';
import { parseCallLine } from '../../gateway/native/call-lines.js';
import { renderHaproxyConfig, type NativeProxySettings } from '../../gateway/native/haproxy-config.js';

const settings: NativeProxySettings = {
  dir: '/run/stratus-native', slots: 3, functionsDomain: 'fn.localhost', callTimeoutMs: 905_000, lineToken: 'a'.repeat(32),
  listen: { host: '127.0.0.1', port: 8088 }, activator: { socketPath: '/run/stratus/gateway.sock' }, callLines: { host: '127.0.0.1', port: 5514 },
};

describe('the native proxy\'s config', () => {
  it('pre-creates one slot backend and one capacity-checked route rule per slot', () => {
    const cfg = renderHaproxyConfig(settings);
    expect(cfg.match(/^backend slot\d+$/gm)).toEqual(['backend slot0', 'backend slot1', 'backend slot2']);
    expect(cfg).toContain('use_backend slot2 if { var(txn.slot) -m str slot2 } { be_conn_free(slot2) gt 0 }');
    expect(cfg).toContain('server activator unix@/run/stratus/gateway.sock');
    expect(cfg).toContain('bind 127.0.0.1:8088');
  });

  it('refuses any address that is neither loopback nor a unix socket', () => {
    const bridge = { host: '172.17.0.2', port: 8080 } as unknown as NativeProxySettings['activator'];
    expect(() => renderHaproxyConfig({ ...settings, activator: bridge })).toThrow(/not a loopback address/);
    expect(() => renderHaproxyConfig({ ...settings, listen: { host: '0.0.0.0', port: 80 } as unknown as NativeProxySettings['listen'] })).toThrow(/not a loopback address/);
    expect(() => renderHaproxyConfig({ ...settings, activator: { socketPath: 'relative.sock' } })).toThrow(/absolute socket path/);
    expect(() => renderHaproxyConfig({ ...settings, functionsDomain: 'fn.localhost\n  server x 1.2.3.4:80' })).toThrow(/lowercase domain/);
    expect(() => renderHaproxyConfig({ ...settings, slots: 0 })).toThrow(/slots/);
  });
});

describe('a per-call line', () => {
  it('is parsed field by field', () => {
    expect(parseCallLine('0d6f4c1e-8f6d-4c4e-9a57-5b6f2f3f6a11 hello slot0 i1 200 3 4 61 194 ----\n')).toEqual({
      requestId: '0d6f4c1e-8f6d-4c4e-9a57-5b6f2f3f6a11', function: 'hello', backend: 'slot0', server: 'i1', status: 200,
      responseMs: 3, durationMs: 4, bytesIn: 61, bytesOut: 194, termination: '----',
    });
  });

  it('says when no instance answered or the call was not routed natively', () => {
    expect(parseCallLine('id-1 - activator activator 429 2 2 70 300 ----')).toMatchObject({ function: null, backend: 'activator', status: 429 });
    expect(parseCallLine('id-2 hello slot0 <NOSRV> 503 -1 5 70 217 SC--')).toMatchObject({ server: null, responseMs: null, status: 503, termination: 'SC--' });
  });

  it('is null for anything else (HAProxy\'s own messages, a cut datagram)', () => {
    expect(parseCallLine('Proxy functions started.')).toBeNull();
    expect(parseCallLine('id-1 hello slot0 i1 200 3 4 61')).toBeNull();
    expect(parseCallLine('id-1 hello slot0 i1 OK 3 4 61 194 ----')).toBeNull();
  });
});
