// deploy/ read as kustomize reads it, checked against the Kubernetes API's own schemas without a cluster,
// and what the code asks of the API server, derived from the code — for test/unit/deploy-manifests.test.ts.
//
// Schemas: kubernetes-models validates each object (types, required fields, enums, int-or-string) with
// validators generated from the Kubernetes OpenAPI document; it lets unknown fields through, so every field
// is also looked up in @kubernetes/client-node's models (generated from the same document), where a typo
// such as `enableServiceLink` is caught as a real API server with strict field validation would refuse it.

import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects of a kustomization that only lists resources (anything else would need kustomize itself). */
export function readKustomization(dir: string): { objects: KubeObject[]; files: string[] } {
  const k = parseOne(path.join(dir, 'kustomization.yaml')) as { resources?: string[] } & Record<string, unknown>;
  const extra = Object.keys(k).filter((key) => !['apiVersion', 'kind', 'resources'].includes(key));
  if (extra.length > 0) throw new Error(`${dir}/kustomization.yaml has ${extra.join(', ')}: this reader only knows resources lists; render with kubectl kustomize instead`);
  const files = (k.resources ?? []).map((r) => path.join(dir, r));
  const objects: KubeObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as KubeObject | null;
      if (obj !== null) objects.push(obj);
    }
  }
  return { objects, files };
}

function parseOne(file: string): unknown {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  if (docs.length !== 1 || docs[0]!.errors.length > 0) throw new Error(`${file}: not one YAML document`);
  return docs[0]!.toJS();
}

export const objectKey = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** kubernetes-models' verdict on one object (its module is found from apiVersion and kind). */
export async function schemaErrors(o: KubeObject): Promise<string[]> {
  const group = o.apiVersion === 'v1' ? 'v1' : o.apiVersion;
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = ((await import(`kubernetes-models/${group}/${o.kind}`)) as Record<string, typeof Model>)[o.kind]!;
  } catch {
    return [`${objectKey(o)}: no schema for ${o.apiVersion} ${o.kind} (not a Kubernetes kind?)`];
  }
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [`${objectKey(o)}: ${(err as Error).message}`];
  }
}

type AttributeMap = { baseName: string; type: string }[];

/** Fields no Kubernetes model has, as paths: spec.template.spec.enableServiceLink. */
export function unknownFields(o: KubeObject): string[] {
  const version = o.apiVersion.split('/').pop()!;
  const type = `${version[0]!.toUpperCase()}${version.slice(1)}${o.kind}`;
  const out: string[] = [];
  walk(o, type, objectKey(o), out);
  return out;
}

function modelOf(type: string): AttributeMap | null {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>)[type];
  return model?.getAttributeTypeMap?.() ?? null;
}

function walk(value: unknown, type: string, at: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, array[1]!, `${at}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${at}.${k}`, out);
    return;
  }
  const attributes = modelOf(type);
  if (attributes === null || typeof value !== 'object' || Array.isArray(value)) return; // a scalar, IntOrString, any
  for (const [k, v] of Object.entries(value)) {
    const attr = attributes.find((a) => a.baseName === k);
    if (!attr) out.push(`${at}: ${type} has no field "${k}"`);
    else walk(v, attr.type, `${at}.${k}`, out);
  }
}

/** "group|resource|verb", e.g. "|pods|create", "|pods/log|get", "coordination.k8s.io|leases|update". */
export type Permission = string;

/** Where Stratus's own code is (tsconfig.json's include): what runs in the gateway and the build worker. */
function sourceFiles(): string[] {
  const include = (JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] }).include;
  const out: string[] = [];
  for (const dir of include) {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })) {
      if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path.join(e.parentPath, e.name));
    }
  }
  return out;
}

/** The API group and plural of the kinds the code may name in a client method; another kind fails the test until added. */
const KINDS: Record<string, [group: string, plural: string]> = {
  Pod: ['', 'pods'],
  Lease: ['coordination.k8s.io', 'leases'],
  Event: ['', 'events'],
  ConfigMap: ['', 'configmaps'],
  Secret: ['', 'secrets'],
};
const VERBS: Record<string, string> = { create: 'create', read: 'get', list: 'list', delete: 'delete', patch: 'patch', replace: 'update', deleteCollection: 'deletecollection' };
/** Subresources a method name may end in, e.g. readNamespacedPodLog → pods/log. */
const SUBRESOURCES: Record<string, string> = { Log: 'log', Status: 'status', Eviction: 'eviction', Binding: 'binding', Ephemeralcontainers: 'ephemeralcontainers', Resize: 'resize' };
/** What each runtime export of @kubernetes/client-node the code may use asks of the API server by itself. */
const CLIENT_EXPORTS: Record<string, 'none' | 'methods' | 'watch' | Permission> = {
  KubeConfig: 'none',
  Watch: 'watch',
  Log: '|pods/log|get',
};

/**
 * Every permission the code needs: typed client calls (`.createNamespacedPod(` → pods create), watches
 * (the resource path the Watch is opened on), the Log class (pods/log get). Anything it cannot place —
 * a kind, a subresource or an export it does not know, a cluster-wide call — is returned in `unplaced`.
 */
export function permissionsUsedByCode(): { used: Map<Permission, string[]>; unplaced: string[] } {
  const used = new Map<Permission, string[]>();
  const unplaced: string[] = [];
  for (const file of sourceFiles()) {
    const found = permissionsInSource(fs.readFileSync(file, 'utf8'), path.relative(ROOT, file));
    for (const [p, where] of found.used) used.set(p, [...(used.get(p) ?? []), ...where]);
    unplaced.push(...found.unplaced);
  }
  return { used, unplaced };
}

/** permissionsUsedByCode() for one source file's text. */
export function permissionsInSource(text: string, rel: string): { used: Map<Permission, string[]>; unplaced: string[] } {
  const used = new Map<Permission, string[]>();
  const unplaced: string[] = [];
  const add = (p: Permission, where: string) => used.set(p, [...(used.get(p) ?? []), where]);
  for (const m of text.matchAll(/\.([a-z]+)Namespaced([A-Z][A-Za-z]*)\(/g)) {
    const [call, verbWord, rest] = [m[0].slice(1, -1), m[1]!, m[2]!];
    const verb = VERBS[verbWord];
    const kind = Object.keys(KINDS).find((k) => rest === k || (rest.startsWith(k) && SUBRESOURCES[rest.slice(k.length)] !== undefined));
    if (!verb || !kind) {
      unplaced.push(`${rel}: ${call} (add its verb/kind to test/support/kube-manifests.ts and the permission to deploy/rbac.yaml)`);
      continue;
    }
    const [group, plural] = KINDS[kind]!;
    const sub = rest === kind ? '' : `/${SUBRESOURCES[rest.slice(kind.length)]!}`;
    // An eviction or binding is created, whatever the method's verb word says.
    add(`${group}|${plural}${sub}|${sub === '/eviction' || sub === '/binding' ? 'create' : verb}`, `${rel}: ${call}`);
  }
  for (const m of text.matchAll(/\.([a-z]\w*)(ForAllNamespaces|Namespace)\(/g)) unplaced.push(`${rel}: ${m[1]}${m[2]} (cluster-wide: a Role cannot grant it)`);
  const imports = [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@kubernetes\/client-node'/g)].flatMap((m) =>
    m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('type ')),
  );
  for (const name of imports) {
    if (/^(V\d\w*|Core\w*Api|\w+V\d\w*Api)$/.test(name)) continue; // models; API classes, whose calls are read above
    const kind = CLIENT_EXPORTS[name];
    if (kind === undefined) unplaced.push(`${rel}: uses ${name} from @kubernetes/client-node (say what it asks of the API server in test/support/kube-manifests.ts)`);
    else if (kind === 'watch') {
      const paths = [...text.matchAll(/`\/api(?:s\/([a-z0-9.-]+))?\/v\d\w*\/namespaces\/\$\{[^}]+\}\/([a-z]+)`/g)];
      if (paths.length === 0) unplaced.push(`${rel}: opens a Watch on a path this reader does not find`);
      for (const p of paths) add(`${p[1] ?? ''}|${p[2]}|watch`, `${rel}: Watch ${p[0]}`);
    } else if (kind !== 'none') add(kind, `${rel}: ${name}`);
  }
  return { used, unplaced };
}

/** The permissions a Role grants, expanded to one per group, resource and verb. */
export function permissionsOfRole(role: KubeObject): Permission[] {
  const rules = (role as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules;
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`))));
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** Kubernetes' label selector rules (an empty selector selects everything). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    if (e.operator === 'Exists') return e.key in labels;
    if (e.operator === 'DoesNotExist') return !(e.key in labels);
    const has = e.key in labels && (e.values ?? []).includes(labels[e.key]!);
    return e.operator === 'In' ? has : !has;
  });
  return byLabels && byExpressions;
}

interface NetworkPolicy extends KubeObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: { from?: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: unknown }[]; ports?: { port?: number | string; protocol?: string }[] }[];
  };
}

export interface PodRef {
  namespace: string;
  labels: Record<string, string>;
}

/**
 * Whether the NetworkPolicies among `objects` let `from` open a TCP connection to `to` on `port`, as an
 * enforcing CNI decides it: a pod no Ingress policy selects takes anything; one that is selected takes what
 * one of those policies' rules admits. Namespace labels: the Namespace objects' own and kubernetes.io/metadata.name.
 */
export function ingressAllowed(objects: KubeObject[], from: PodRef, to: PodRef, port: number): boolean {
  const nsLabels = (ns: string) => ({ ...(objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns)?.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns });
  const policies = (objects.filter((o) => o.kind === 'NetworkPolicy') as NetworkPolicy[]).filter(
    (p) => p.metadata.namespace === to.namespace && (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') && selects(p.spec.podSelector, to.labels),
  );
  if (policies.length === 0) return true;
  return policies.some((p) =>
    (p.spec.ingress ?? []).some((rule) => {
      const portOk = !rule.ports?.length || rule.ports.some((rp) => {
        if (typeof rp.port === 'string') throw new Error(`${objectKey(p)}: named port ${rp.port} (this evaluator knows numbers only)`);
        return (rp.protocol ?? 'TCP') === 'TCP' && (rp.port === undefined || rp.port === port);
      });
      const peerOk = !rule.from?.length || rule.from.some((peer) => {
        if (peer.ipBlock) throw new Error(`${objectKey(p)}: ipBlock (this evaluator knows pod and namespace selectors only)`);
        const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels(from.namespace)) : from.namespace === p.metadata.namespace;
        return nsOk && (peer.podSelector ? selects(peer.podSelector, from.labels) : true);
      });
      return portOk && peerOk;
    }),
  );
}

/** Whether a pod may send nothing at all: Egress policies select it and none has a rule (network: none). */
export function egressDenied(objects: KubeObject[], pod: PodRef): boolean {
  const policies = (objects.filter((o) => o.kind === 'NetworkPolicy') as (NetworkPolicy & { spec: { egress?: unknown[] } })[]).filter(
    (p) => p.metadata.namespace === pod.namespace && (p.spec.policyTypes ?? []).includes('Egress') && selects(p.spec.podSelector, pod.labels),
  );
  return policies.length > 0 && policies.every((p) => (p.spec.egress ?? []).length === 0);
}
