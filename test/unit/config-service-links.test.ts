// A gateway pod must start although the kubelet adds STRATUS_*-named service links for Services such as
// "stratus-gateway" (when the pod does not set enableServiceLinks: false), while a misspelt setting is
// still refused and a real setting that collides with a link name is still validated.
// The variables below are what pkg/kubelet/envvars in Kubernetes writes (FromServices + makeLinkVariables).

import { describe, expect, it } from 'vitest';
import { loadConfig, settingNames } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import { linkHint, serviceLinkNames, servicesInjecting } from '../../core/service-links.js';

/** What the kubelet injects for one Service: name, cluster IP, ports in spec order (the first may be unnamed). */
function kubeletLinks(service: string, ip: string, ports: { port: number; name?: string; protocol?: 'TCP' | 'UDP' | 'SCTP' }[]): Record<string, string> {
  const n = service.toUpperCase().replaceAll('-', '_');
  const hp = (p: number) => (ip.includes(':') ? `[${ip}]:${p}` : `${ip}:${p}`);
  const env: Record<string, string> = { [`${n}_SERVICE_HOST`]: ip, [`${n}_SERVICE_PORT`]: String(ports[0]!.port) };
  for (const p of ports) if (p.name) env[`${n}_SERVICE_PORT_${p.name.toUpperCase().replaceAll('-', '_')}`] = String(p.port);
  ports.forEach((p, i) => {
    const proto = p.protocol ?? 'TCP';
    const url = `${proto.toLowerCase()}://${hp(p.port)}`;
    if (i === 0) env[`${n}_PORT`] = url;
    const pre = `${n}_PORT_${p.port}_${proto}`;
    Object.assign(env, { [pre]: url, [`${pre}_PROTO`]: proto.toLowerCase(), [`${pre}_PORT`]: String(p.port), [`${pre}_ADDR`]: ip });
  });
  return env;
}

function refusal(env: Record<string, string>): StratusError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(StratusError);
    return err as StratusError;
  }
  throw new Error('loadConfig accepted it');
}

describe('Kubernetes service links in the environment', () => {
  it('the gateway pod of deploy/ starts with the links of its own Service and names them', () => {
    const links = kubeletLinks('stratus-gateway', '10.96.12.7', [{ port: 80, name: 'http' }]);
    expect(Object.keys(links).sort()).toEqual([
      'STRATUS_GATEWAY_PORT', 'STRATUS_GATEWAY_PORT_80_TCP', 'STRATUS_GATEWAY_PORT_80_TCP_ADDR', 'STRATUS_GATEWAY_PORT_80_TCP_PORT',
      'STRATUS_GATEWAY_PORT_80_TCP_PROTO', 'STRATUS_GATEWAY_SERVICE_HOST', 'STRATUS_GATEWAY_SERVICE_PORT', 'STRATUS_GATEWAY_SERVICE_PORT_HTTP',
    ]);
    const cfg = loadConfig({ STRATUS_PORT: '8080', REDIS_SERVICE_HOST: '10.96.0.9', ...links });
    expect(cfg.port).toBe(8080);
    expect(cfg.serviceLinks.sort()).toEqual(Object.keys(links).sort());
    expect(loadConfig({}).serviceLinks).toEqual([]);
  });

  it('takes several ports, UDP and SCTP, IPv6 cluster IPs and several Services', () => {
    const env = {
      ...kubeletLinks('stratus-gateway', 'fd00:10:96::a', [{ port: 80, name: 'http' }, { port: 9000, name: 's3' }]),
      ...kubeletLinks('stratus-metrics', '10.0.0.2', [{ port: 9090 }, { port: 53, name: 'dns-udp', protocol: 'UDP' }, { port: 3868, name: 'diameter', protocol: 'SCTP' }]),
    };
    expect(env.STRATUS_GATEWAY_PORT).toBe('tcp://[fd00:10:96::a]:80');
    expect(loadConfig(env).serviceLinks.sort()).toEqual(Object.keys(env).sort());
  });

  it('still refuses a misspelt setting, also one shaped like a link name', () => {
    const links = kubeletLinks('stratus-gateway', '10.96.12.7', [{ port: 80, name: 'http' }]);
    expect(refusal({ ...links, STRATUS_PROT: '8080' }).details.field).toBe('STRATUS_PROT');
    // Alone, or with values no kubelet writes, link-shaped names are misspellings too.
    for (const wrong of [
      { STRATUS_SERVICE_PORT: '8080' },
      { STRATUS_REDIS_PORT: '6379' },
      { STRATUS_GATEWAY_SERVICE_HOST: 'gateway.local', STRATUS_GATEWAY_SERVICE_PORT: '80' },
      { STRATUS_GATEWAY_SERVICE_HOST: '10.96.12.7', STRATUS_GATEWAY_SERVICE_PORT: '0' },
      { ...links, STRATUS_GATEWAY_PORT: 'tcp://10.96.12.8:80' },
      { ...links, STRATUS_GATEWAY_PORT_80_TCP_ADDR: '10.96.12.8' },
      { ...links, STRATUS_GATEWAY_PORT_80_TCP_PROTO: 'udp' },
      { ...links, STRATUS_GATEWAY_PORT_81_TCP_PORT: '80' },
      // A named port must be one of the Service's ports.
      { ...links, STRATUS_GATEWAY_SERVICE_PORT_ADMIN: '8443' },
    ]) {
      const err = refusal(wrong as Record<string, string>);
      expect(err.message).toMatch(/^unknown setting /);
    }
  });

  it('validates a real setting whose name is also a link name, and says where such a value comes from', () => {
    // A Service named "stratus" gives STRATUS_PORT: when the pod spec sets STRATUS_PORT the kubelet keeps
    // the spec's value, and the rest of that Service's links are ignored.
    const links = kubeletLinks('stratus', '10.96.3.3', [{ port: 80, name: 'http' }]);
    const { STRATUS_PORT: injected, ...others } = links;
    expect(injected).toBe('tcp://10.96.3.3:80');
    const cfg = loadConfig({ ...others, STRATUS_PORT: '8080' });
    expect(cfg.port).toBe(8080);
    expect(cfg.serviceLinks).not.toContain('STRATUS_PORT');
    // When the spec leaves STRATUS_PORT unset the kubelet's value reaches it, and start-up refuses it.
    const err = refusal(links);
    expect(err.details.field).toBe('STRATUS_PORT');
    expect(err.message).toMatch(/^STRATUS_PORT: .*"tcp:\/\/10\.96\.3\.3:80" is what the kubelet injects for a Kubernetes Service named "stratus".*enableServiceLinks: false/);
    const s3 = refusal(kubeletLinks('stratus-s3', '10.96.3.4', [{ port: 9000 }]));
    expect(s3.details.field).toBe('STRATUS_S3_PORT');
    expect(s3.message).toMatch(/Service named "stratus-s3"/);
  });

  it('names the Services whose links would carry a name', () => {
    expect(servicesInjecting('STRATUS_PORT')).toEqual(['stratus']);
    expect(servicesInjecting('STRATUS_S3_PORT')).toEqual(['stratus-s3']);
    expect(servicesInjecting('STRATUS_GATEWAY_SERVICE_PORT_HTTP')).toEqual(['stratus-gateway']);
    // NAME_PORT_80_TCP_PORT, and also the first port of a Service named "stratus-port-80-tcp".
    expect(servicesInjecting('STRATUS_PORT_80_TCP_PORT')).toEqual(['stratus', 'stratus-port-80-tcp']);
    expect(servicesInjecting('STRATUS_STATE_DIR')).toEqual([]);
    expect(servicesInjecting('STRATUS_SERVICE_WAIT_MS')).toEqual([]);
    // Of today's settings, those a Service in the namespace could overwrite (deploy-manifests.test.ts
    // keeps the manifests' Services away from them).
    expect(settingNames().filter((n) => servicesInjecting(n).length > 0)).toEqual(expect.arrayContaining(['STRATUS_PORT', 'STRATUS_S3_PORT']));
    expect(linkHint('STRATUS_STATE_DIR', 'tcp://10.0.0.1:80')).toBeUndefined();
    expect(linkHint('STRATUS_PORT', '80')).toBeUndefined();
  });

  it('does not look at variables outside STRATUS_', () => {
    const env = kubeletLinks('redis', '10.96.0.9', [{ port: 6379, name: 'redis' }]);
    expect(serviceLinkNames(env, Object.keys(env))).toEqual([]);
    expect(loadConfig(env).serviceLinks).toEqual([]);
  });
});
