// The routes an express 5 app mounts, read from its routers' stacks (router 2's layers: a route layer has
// `route` with its path and methods; a mounted router has `handle.stack`, its mount path in `rawPath`).
// Anything this walker cannot read — a RegExp or an array path — is an error, not a route skipped.

import type express from 'express';

export interface MountedRoute {
  method: string;
  path: string;
}

interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** A mount at "/" adds nothing to its routes' paths. */
const join = (prefix: string, path: string) => prefix + (path === '/' ? '' : path);

function pathOf(raw: unknown, where: string): string {
  if (typeof raw !== 'string') throw new Error(`a layer under ${where || '/'} has a path this walker cannot read: ${String(raw)}`);
  return raw;
}

function walk(stack: Layer[], prefix: string, out: MountedRoute[]): void {
  for (const layer of stack) {
    if (layer.route) {
      const path = join(prefix, pathOf(layer.route.path, prefix)) || '/';
      for (const [method, on] of Object.entries(layer.route.methods)) if (on) out.push({ method: method === '_all' ? 'all' : method, path });
    } else if (layer.handle?.stack) {
      walk(layer.handle.stack, join(prefix, pathOf(layer.rawPath, prefix)), out);
    }
  }
}

/** Every (method, path) the app routes, mount prefixes included; middleware without routes is left out. */
export function mountedRoutes(app: express.Express): MountedRoute[] {
  const out: MountedRoute[] = [];
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '', out);
  return out;
}
