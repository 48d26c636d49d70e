// Kubernetes service links: for every Service in its namespace (unless the pod says enableServiceLinks:
// false) the kubelet adds Docker-link style variables to each container — for a Service named
// "stratus-gateway" with port 80 named "http" on cluster IP 10.0.0.1:
//   STRATUS_GATEWAY_SERVICE_HOST=10.0.0.1          STRATUS_GATEWAY_SERVICE_PORT=80
//   STRATUS_GATEWAY_SERVICE_PORT_HTTP=80           STRATUS_GATEWAY_PORT=tcp://10.0.0.1:80
//   STRATUS_GATEWAY_PORT_80_TCP=tcp://10.0.0.1:80  STRATUS_GATEWAY_PORT_80_TCP_PROTO=tcp
//   STRATUS_GATEWAY_PORT_80_TCP_PORT=80            STRATUS_GATEWAY_PORT_80_TCP_ADDR=10.0.0.1
// (pkg/kubelet/envvars in Kubernetes: the name upper-cased with "-" as "_"; NAME_PORT only for the first
// port; NAME_SERVICE_PORT_<PORTNAME> for named ports; an IPv6 cluster IP in brackets inside URLs).
// Those whose name starts with STRATUS_ would trip the strict config's "unknown setting". This module
// tells them apart from a misspelt setting by what the kubelet always writes: a whole set, whose values
// agree with each other — NAME_SERVICE_HOST an IP, NAME_SERVICE_PORT a port, every other member naming
// that IP and a port. A lone STRATUS_SERVICE_PORT=8080 (someone meaning STRATUS_PORT) is no such set.
//
// A real setting is never taken for a link: core/config.ts validates known names first. The kubelet
// does not override a variable the pod spec sets, so a link name that is a real setting only reaches
// Stratus when the spec leaves that setting unset — then it fails validation, with linkHint() saying why.

import { isIP } from 'node:net';

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
/** What makeEnvVariableName gives for a DNS-1035 Service name (a letter first, then a-z, 0-9, "-"). */
const SERVICE_ENV_NAME = /^[A-Z](?:[A-Z0-9_]*[A-Z0-9])?$/;
/** An IANA service port name (a-z, 0-9, "-", at most 15) as an env name. */
const PORT_ENV_NAME = /^[A-Z0-9](?:[A-Z0-9_]{0,13}[A-Z0-9])?$/;
const PORT_MEMBER = /^_PORT_(\d{1,5})_(TCP|UDP|SCTP)(?:_(PROTO|PORT|ADDR))?$/;
/** Every name the kubelet derives from a Service's NAME, minus NAME. */
const LINK_SUFFIX = /^_(?:SERVICE_HOST|SERVICE_PORT|SERVICE_PORT_[A-Z0-9_]+|PORT|PORT_\d{1,5}_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)$/;
const LINK_URL = /^(tcp|udp|sctp):\/\/(.+):(\d{1,5})$/;

const isPort = (v: string | undefined): v is string => v !== undefined && /^[1-9]\d{0,4}$/.test(v) && Number(v) <= 65535;
const hostPort = (ip: string, port: string) => (isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);

interface Group {
  prefix: string;
  ip: string;
  firstPort: string;
}

/** The Services whose core pair (NAME_SERVICE_HOST = an IP, NAME_SERVICE_PORT = a port) is in env. */
function groups(env: Record<string, string | undefined>, namePrefix: string): Group[] {
  const out: Group[] = [];
  for (const [key, ip] of Object.entries(env)) {
    if (!key.startsWith(namePrefix) || !key.endsWith('_SERVICE_HOST') || ip === undefined || isIP(ip) === 0) continue;
    const prefix = key.slice(0, -'_SERVICE_HOST'.length);
    const firstPort = env[`${prefix}_SERVICE_PORT`];
    if (SERVICE_ENV_NAME.test(prefix) && isPort(firstPort)) out.push({ prefix, ip, firstPort });
  }
  return out;
}

/** Whether `key=value` is a member of group `g` as the kubelet writes it. */
function isMember(g: Group, key: string, value: string, env: Record<string, string | undefined>): boolean {
  if (!key.startsWith(`${g.prefix}_`)) return false;
  const rest = key.slice(g.prefix.length);
  if (rest === '_SERVICE_HOST' || rest === '_SERVICE_PORT') return true;
  if (rest === '_PORT') {
    const m = LINK_URL.exec(value);
    return m !== null && `${m[2]}:${m[3]}` === hostPort(g.ip, g.firstPort);
  }
  const port = PORT_MEMBER.exec(rest);
  if (port) {
    const p = port[1]!;
    const proto = port[2]!;
    const field = port[3];
    if (!isPort(p)) return false;
    if (field === undefined) return value === `${proto.toLowerCase()}://${hostPort(g.ip, p)}`;
    if (field === 'PROTO') return value === proto.toLowerCase();
    if (field === 'PORT') return value === p;
    return value === g.ip;
  }
  // NAME_SERVICE_PORT_<PORTNAME>: a named port, which also has its NAME_PORT_<port>_<PROTO> entry.
  if (rest.startsWith('_SERVICE_PORT_') && PORT_ENV_NAME.test(rest.slice('_SERVICE_PORT_'.length)) && isPort(value)) {
    return PROTOCOLS.some((proto) => env[`${g.prefix}_PORT_${value}_${proto}`] !== undefined);
  }
  return false;
}

/**
 * Of `names` (variables no setting has), those the kubelet injected as service links: each belongs to a
 * Service whose host and port variables are present and agree with it. The rest stay unknown.
 */
export function serviceLinkNames(env: Record<string, string | undefined>, names: readonly string[], namePrefix = 'STRATUS_'): string[] {
  const found = groups(env, namePrefix);
  if (found.length === 0) return [];
  return names.filter((key) => {
    const value = env[key];
    return value !== undefined && found.some((g) => isMember(g, key, value, env));
  });
}

/**
 * The Services (by name) whose links would include a variable called `name`: ["stratus"] for
 * STRATUS_PORT, ["stratus-gateway"] for STRATUS_GATEWAY_SERVICE_PORT_HTTP, [] for STRATUS_STATE_DIR.
 * A Service that would inject a real setting must not share a namespace with Stratus's pods.
 */
export function servicesInjecting(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf('_'); i > 0; i = name.indexOf('_', i + 1)) {
    const prefix = name.slice(0, i);
    if (SERVICE_ENV_NAME.test(prefix) && LINK_SUFFIX.test(name.slice(i))) out.push(prefix.toLowerCase().replaceAll('_', '-'));
  }
  return out;
}

/**
 * Why a setting may hold a link's value: STRATUS_PORT=tcp://10.0.0.1:80 is what the kubelet writes for
 * a Service named "stratus" when the pod spec leaves STRATUS_PORT unset. Undefined when it does not look so.
 */
export function linkHint(name: string, value: string | undefined): string | undefined {
  if (value === undefined || !LINK_URL.test(value)) return undefined;
  const services = servicesInjecting(name);
  if (services.length === 0) return undefined;
  return `"${value}" is what the kubelet injects for a Kubernetes Service named "${services.join('" or "')}" (a service link): set enableServiceLinks: false in the pod spec, or give the Service another name`;
}
