// A fake Kubernetes API server: a real HTTP server on 127.0.0.1 that implements the part of the core/v1
// pods API the Kubernetes backend uses, with the API server's shapes, status codes and content types:
//   POST   /api/v1/namespaces/NS/pods            201 Pod | 409 AlreadyExists | 422 Invalid (name, labels)
//   GET    /api/v1/namespaces/NS/pods            200 PodList, ?labelSelector= (k=v, k==v, k!=v, k, !k)
//   GET    /api/v1/namespaces/NS/pods?watch=1    chunked JSON lines {"type":"ADDED|MODIFIED|DELETED","object":Pod};
//                                               from ?resourceVersion= (410 Expired ERROR event when compacted),
//                                               else synthetic ADDED for every current pod; ?timeoutSeconds=
//   GET    /api/v1/namespaces/NS/pods/NAME       200 Pod | 404 NotFound Status
//   PATCH  /api/v1/namespaces/NS/pods/NAME       200 Pod: application/json-patch+json (RFC 6902 add/replace/remove/test)
//                                               on metadata.labels and metadata.annotations — the part of a pod
//                                               that may change — 415 another patch type, 422 another path or an
//                                               invalid label, 404; a MODIFIED event follows
//   DELETE /api/v1/namespaces/NS/pods/NAME       200 Pod (graceful: deletionTimestamp, then DELETED) | 404
//   GET    /api/v1/namespaces/NS/pods/NAME/log   200 text/plain, chunked: the container's output from its kubelet,
//                                               ?container= (400 when not the pod's), ?timestamps= (RFC 3339 nano
//                                               prefix), ?sinceTime=, ?follow= (open until the container ends);
//                                               400 while the container is waiting to start, 404 no such pod
// Pod status (Pending → Running, podIP, conditions, containerStatuses) is written by a kubelet stand-in
// through setStatus(), as the real kubelet writes the status subresource. Faults are injected with failNext().

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';

/** One line a container wrote, as the kubelet's CRI log keeps it. */
export interface ContainerLogLine {
  /** RFC 3339 with nanoseconds, as the kubelet writes it. */
  time: string;
  text: string;
}

/** A container's output so far, and its continuation while it runs. */
export interface ContainerLog {
  lines: readonly ContainerLogLine[];
  /** False once the container ended: a follow then ends after the lines so far. */
  running: boolean;
  /** Called for each new line, and with null when the container ends; returns an unsubscribe. */
  follow(listener: (line: ContainerLogLine | null) => void): () => void;
}

/** What a kubelet does with pods: run them once created, stop them when deleted with a grace period. */
export interface FakeKubeletHooks {
  podCreated(pod: V1Pod): void;
  /** Resolves once the pod's containers are gone; the API server then removes the object. */
  podDeleting(pod: V1Pod, graceSeconds: number): Promise<void>;
  /** The log of a pod's container, or null when it has not started (the API server answers 400 then). */
  containerLog(namespace: string, name: string): ContainerLog | null;
}

interface Fault {
  method: string;
  path: RegExp;
  code: number;
  reason: string;
  message: string;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

const JSON_TYPE = 'application/json';
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function matches(labels: Record<string, string>, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const t = term.trim();
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^([^!=]+)!=(.*)$/))) return labels[m[1]!.trim()] !== m[2]!.trim();
    if ((m = t.match(/^([^!=]+)==?(.*)$/))) return labels[m[1]!.trim()] === m[2]!.trim();
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

export class FakeKubeApi {
  readonly #server = http.createServer((req, res) => void this.#handle(req, res));
  readonly #pods = new Map<string, V1Pod>();
  readonly #history: { rv: number; type: EventType; pod: V1Pod }[] = [];
  readonly #watchers = new Set<{ ns: string; selector: string | null; res: http.ServerResponse }>();
  readonly #faults: Fault[] = [];
  #rv = 1000;
  /** Watches from a resourceVersion below this one are answered 410 Expired. */
  #compactedBelow = 0;
  kubelet: FakeKubeletHooks | null = null;
  /** While true every request is answered 503, as during an API server restart. */
  unavailable = false;
  /** Every request, "METHOD path?query", for assertions on what the backend asked. */
  readonly requests: string[] = [];

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.endWatches();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next request matching method and path is answered with this Status instead. */
  failNext(method: string, path: RegExp, code: number, reason: string, message: string): void {
    this.#faults.push({ method, path, code, reason, message });
  }

  pod(namespace: string, name: string): V1Pod | undefined {
    const p = this.#pods.get(`${namespace}/${name}`);
    return p && clone(p);
  }

  podNames(namespace: string): string[] {
    return [...this.#pods.values()].filter((p) => p.metadata!.namespace === namespace).map((p) => p.metadata!.name!);
  }

  /** The kubelet's status update; false when the pod is gone. */
  setStatus(namespace: string, name: string, status: V1PodStatus): boolean {
    const pod = this.#pods.get(`${namespace}/${name}`);
    if (!pod) return false;
    pod.status = clone(status);
    this.#record('MODIFIED', pod);
    return true;
  }

  /** A forced deletion by another client (kubectl delete --force): gone at once, its kubelet told. */
  removePod(namespace: string, name: string): void {
    const pod = this.#pods.get(`${namespace}/${name}`);
    if (!pod) return;
    this.#pods.delete(`${namespace}/${name}`);
    this.#record('DELETED', pod);
    this.kubelet?.podDeleting(clone(pod), 0).catch(() => {});
  }

  /** Ends every open watch, as the API server does when a watch times out or it restarts. */
  endWatches(): void {
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  /** Forgets the event history (etcd compaction): a watch from an older version gets 410 Expired. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedBelow = this.#rv + 1;
  }

  #record(type: EventType, pod: V1Pod): void {
    pod.metadata!.resourceVersion = String(++this.#rv);
    const snapshot = clone(pod);
    this.#history.push({ rv: this.#rv, type, pod: snapshot });
    for (const w of this.#watchers) {
      if (w.ns === snapshot.metadata!.namespace && matches(snapshot.metadata!.labels ?? {}, w.selector)) w.res.write(JSON.stringify({ type, object: snapshot }) + '\n');
    }
  }

  #send(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': JSON_TYPE, 'cache-control': 'no-cache, private' });
    res.end(JSON.stringify(body));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.search}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.unavailable) return this.#send(res, 503, statusObject(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    const fault = this.#faults.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (fault >= 0) {
      const f = this.#faults.splice(fault, 1)[0]!;
      return this.#send(res, f.code, statusObject(f.code, f.reason, f.message));
    }
    const logPath = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/);
    if (logPath && method === 'GET') return this.#log(req, res, decodeURIComponent(logPath[1]!), decodeURIComponent(logPath[2]!), url.searchParams);
    const m = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/);
    if (!m) return this.#send(res, 404, statusObject(404, 'NotFound', 'the server could not find the requested resource'));
    const ns = decodeURIComponent(m[1]!);
    const name = m[2] === undefined ? null : decodeURIComponent(m[2]);
    const q = url.searchParams;
    if (name === null && method === 'POST') return this.#create(res, ns, chunks);
    if (name === null && method === 'GET' && (q.get('watch') === '1' || q.get('watch') === 'true')) return this.#watch(req, res, ns, q);
    if (name === null && method === 'GET') {
      const items = [...this.#pods.values()].filter((p) => p.metadata!.namespace === ns && matches(p.metadata!.labels ?? {}, q.get('labelSelector')));
      const limit = Number(q.get('limit') ?? 0);
      return this.#send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) }, items: limit > 0 ? items.slice(0, limit) : items });
    }
    const pod = name === null ? undefined : this.#pods.get(`${ns}/${name}`);
    if (name !== null && (method === 'GET' || method === 'DELETE') && !pod) {
      return this.#send(res, 404, statusObject(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
    }
    if (name !== null && method === 'PATCH') {
      if (!pod) return this.#send(res, 404, statusObject(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
      return this.#patch(req, res, pod, chunks);
    }
    if (method === 'GET') return this.#send(res, 200, pod);
    if (method === 'DELETE') return this.#delete(res, pod!, q, chunks);
    this.#send(res, 405, statusObject(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  }

  #create(res: http.ServerResponse, ns: string, chunks: Buffer[]): void {
    let pod: V1Pod;
    try {
      pod = JSON.parse(Buffer.concat(chunks).toString('utf8')) as V1Pod;
    } catch {
      return this.#send(res, 400, statusObject(400, 'BadRequest', 'the object provided is unrecognized (must be of type Pod)'));
    }
    const name = pod.metadata?.name ?? '';
    const invalid = (field: string, why: string) =>
      this.#send(res, 422, statusObject(422, 'Invalid', `Pod "${name}" is invalid: ${field}: ${why}`, { name, kind: 'Pod', causes: [{ reason: 'FieldValueInvalid', message: why, field }] }));
    if (!name || name.length > 253 || !DNS_SUBDOMAIN.test(name)) return invalid('metadata.name', 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\'');
    if (pod.metadata?.namespace && pod.metadata.namespace !== ns) {
      return this.#send(res, 400, statusObject(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    for (const [k, v] of Object.entries(pod.metadata?.labels ?? {})) {
      if (v.length > 63 || !LABEL_VALUE.test(v)) return invalid(`metadata.labels`, `Invalid value: "${v}" (label ${k}): must be 63 characters or less and match the label value pattern`);
    }
    if (!pod.spec?.containers?.length) return invalid('spec.containers', 'Required value');
    if (this.#pods.has(`${ns}/${name}`)) {
      return this.#send(res, 409, statusObject(409, 'AlreadyExists', `pods "${name}" already exists`, { name, kind: 'pods' }));
    }
    const limits = pod.spec.containers.every((c) => JSON.stringify(c.resources?.limits) === JSON.stringify(c.resources?.requests) && c.resources?.limits);
    pod.apiVersion = 'v1';
    pod.kind = 'Pod';
    pod.metadata = { ...pod.metadata, name, namespace: ns, uid: randomUUID(), creationTimestamp: new Date() };
    pod.status = { phase: 'Pending', qosClass: limits ? 'Guaranteed' : 'Burstable' };
    this.#pods.set(`${ns}/${name}`, pod);
    this.#record('ADDED', pod);
    this.#send(res, 201, pod);
    this.kubelet?.podCreated(clone(pod));
  }

  #patch(req: http.IncomingMessage, res: http.ServerResponse, pod: V1Pod, chunks: Buffer[]): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type !== 'application/json-patch+json') {
      return this.#send(res, 415, statusObject(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml`));
    }
    const name = pod.metadata!.name!;
    const invalid = (why: string) => this.#send(res, 422, statusObject(422, 'Invalid', `Pod "${name}" is invalid: ${why}`, { name, kind: 'Pod' }));
    let ops: { op?: string; path?: string; value?: unknown }[];
    try {
      ops = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof ops;
      if (!Array.isArray(ops)) throw new Error('not an array');
    } catch {
      return this.#send(res, 400, statusObject(400, 'BadRequest', 'the request body is not a JSON Patch document'));
    }
    // Applied to a copy: a patch that fails part way changes nothing.
    const meta = { labels: { ...pod.metadata!.labels }, annotations: { ...pod.metadata!.annotations } };
    for (const o of ops) {
      const m = /^\/metadata\/(labels|annotations)\/(.+)$/.exec(o.path ?? '');
      if (!m) return invalid(`spec: Forbidden: pod updates may not change fields other than metadata labels and annotations here (${o.path ?? 'no path'})`);
      const map = meta[m[1] as 'labels' | 'annotations'];
      const key = m[2]!.replace(/~1/g, '/').replace(/~0/g, '~');
      if (o.op === 'remove' || o.op === 'replace') {
        if (!(key in map)) return this.#send(res, 422, statusObject(422, 'Invalid', `the server rejected our request due to an error in our request: ${o.op} operation does not apply: doc is missing path: ${o.path}`));
      }
      if (o.op === 'remove') delete map[key];
      else if (o.op === 'add' || o.op === 'replace') map[key] = String(o.value);
      else if (o.op === 'test') {
        if (map[key] !== o.value) return this.#send(res, 422, statusObject(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${o.path} failed`));
      } else return this.#send(res, 400, statusObject(400, 'BadRequest', `Unexpected kind: ${o.op ?? 'none'}`));
    }
    for (const [k, v] of Object.entries(meta.labels)) {
      if (v.length > 63 || !LABEL_VALUE.test(v)) return invalid(`metadata.labels: Invalid value: "${v}" (label ${k}): must be 63 characters or less and match the label value pattern`);
    }
    pod.metadata!.labels = meta.labels;
    pod.metadata!.annotations = meta.annotations;
    this.#record('MODIFIED', pod);
    this.#send(res, 200, pod);
  }

  #delete(res: http.ServerResponse, pod: V1Pod, q: URLSearchParams, chunks: Buffer[]): void {
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { gracePeriodSeconds?: number }) : {};
    const grace = Number(q.get('gracePeriodSeconds') ?? body.gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
    const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
    const remove = () => {
      if (this.#pods.get(key) !== pod) return;
      this.#pods.delete(key);
      this.#record('DELETED', pod);
    };
    if (pod.metadata!.deletionTimestamp) return this.#send(res, 200, pod);
    // A pod no container ever ran for goes at once; a running one is stopped by its kubelet first.
    if (!this.kubelet || pod.status?.phase === 'Pending') {
      remove();
      this.kubelet?.podDeleting(clone(pod), 0).catch(() => {});
      return this.#send(res, 200, pod);
    }
    pod.metadata!.deletionTimestamp = new Date();
    pod.metadata!.deletionGracePeriodSeconds = grace;
    this.#record('MODIFIED', pod);
    this.#send(res, 200, pod);
    this.kubelet.podDeleting(clone(pod), grace).then(remove, remove);
  }

  /** The pod log subresource, as the API server proxies it from the kubelet. */
  #log(req: http.IncomingMessage, res: http.ServerResponse, ns: string, name: string, q: URLSearchParams): void {
    const pod = this.#pods.get(`${ns}/${name}`);
    if (!pod) return this.#send(res, 404, statusObject(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
    const containers = pod.spec?.containers?.map((c) => c.name) ?? [];
    const container = q.get('container') ?? (containers.length === 1 ? containers[0]! : '');
    if (!containers.includes(container)) {
      return this.#send(res, 400, statusObject(400, 'BadRequest', `container ${container} is not valid for pod ${name}`));
    }
    const log = this.kubelet?.containerLog(ns, name) ?? null;
    if (!log) {
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? 'ContainerCreating';
      return this.#send(res, 400, statusObject(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${waiting}`));
    }
    const timestamps = q.get('timestamps') === 'true';
    const since = q.get('sinceTime');
    // metav1.Time: the API server parses sinceTime to the second.
    const sinceMs = since ? Math.floor(Date.parse(since) / 1000) * 1000 : null;
    const text = (l: ContainerLogLine) => `${timestamps ? `${l.time} ` : ''}${l.text}\n`;
    const wanted = (l: ContainerLogLine) => sinceMs === null || Date.parse(l.time) >= sinceMs;
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    for (const l of log.lines) if (wanted(l)) res.write(text(l));
    if (q.get('follow') !== 'true' || !log.running) return void res.end();
    const off = log.follow((l) => {
      if (l === null) {
        off();
        res.end();
      } else if (wanted(l)) res.write(text(l));
    });
    res.on('close', off);
    req.on('close', off);
  }

  #watch(req: http.IncomingMessage, res: http.ServerResponse, ns: string, q: URLSearchParams): void {
    const selector = q.get('labelSelector');
    res.writeHead(200, { 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders(); // as the API server does: the client sees the watch open before any event
    const from = q.get('resourceVersion');
    const write = (type: string, object: unknown) => res.write(JSON.stringify({ type, object }) + '\n');
    if (from && from !== '0' && Number(from) < this.#compactedBelow) {
      write('ERROR', statusObject(410, 'Expired', `too old resource version: ${from} (${this.#compactedBelow})`));
      return void res.end();
    }
    if (from && from !== '0') {
      for (const e of this.#history) if (e.rv > Number(from) && e.pod.metadata!.namespace === ns && matches(e.pod.metadata!.labels ?? {}, selector)) write(e.type, e.pod);
    } else {
      for (const p of this.#pods.values()) if (p.metadata!.namespace === ns && matches(p.metadata!.labels ?? {}, selector)) write('ADDED', p);
    }
    const watcher = { ns, selector, res };
    this.#watchers.add(watcher);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : null;
    const done = () => {
      if (timer) clearTimeout(timer);
      this.#watchers.delete(watcher);
    };
    res.on('close', done);
    req.on('close', done);
  }
}
