// Aliases: names for versions of a function. `latest` is the one the plain function URL follows (it moves
// to each new good build); any other name (`prod`, `beta`) moves only when told to. An alias points at one
// version, or at two with weights for a canary: `/fn/NAME@ALIAS/…` calls split between them by weight.
// `/fn/NAME@vN/…` calls version N itself. Validated once here.

import { z } from 'zod';
import { StratusError } from './errors.js';

export const LATEST = 'latest';
/** An alias name: like a function name, and never shaped like a version qualifier ("v12"). */
export const ALIAS_NAME = /^(?!v\d+$)[a-z][a-z0-9-]{0,62}$/;
export const MAX_ALIASES = 20;

export interface WeightedVersion {
  version: number;
  /** Percent of the alias's calls, 1–100; an alias's weights add up to 100. */
  weight: number;
}

/** Where an alias points: one version at 100, or two whose weights add up to 100. */
export interface AliasTarget {
  versions: WeightedVersion[];
  updatedAt: string;
}

const version = z.number().int().min(1);
/** The body of PUT …/aliases/:alias (parseAliasBody; the OpenAPI document describes it). */
export const aliasBodySchema = z.union([
  z.strictObject({ version }),
  z.strictObject({
    versions: z
      .array(z.strictObject({ version, weight: z.number().int().min(1, 'a weight is a whole percent, 1–99').max(99, 'a weight is a whole percent, 1–99') }))
      .length(2, 'give two versions with weights (a canary), or use {"version": N} for one')
      .refine((vs) => vs[0]!.version !== vs[1]!.version, 'the two versions must differ')
      .refine((vs) => vs[0]!.weight + vs[1]!.weight === 100, 'the weights must add up to 100'),
  }),
]);

/** The body of PUT …/aliases/:alias: `{ "version": N }` or `{ "versions": [{ version, weight }, { version, weight }] }`. */
export function parseAliasBody(input: unknown): WeightedVersion[] {
  const r = aliasBodySchema.safeParse(input);
  if (r.success) return 'version' in r.data ? [{ version: r.data.version, weight: 100 }] : r.data.versions;
  // A union reports each branch; name the one the caller meant.
  const meant = typeof input === 'object' && input !== null && 'versions' in input ? 1 : 0;
  const issues = r.error.issues.flatMap((i) => (i.code === 'invalid_union' ? (i.errors[meant] ?? []) : [i]));
  const first = issues[0] ?? { path: [], message: 'give {"version": N} or {"versions": [{"version": N, "weight": W}, …]}' };
  const field = ['body', ...first.path.map(String)].join('.');
  throw new StratusError('INVALID_REQUEST', `${field}: ${first.message}`, { field });
}

export function checkAliasName(name: string): void {
  if (!ALIAS_NAME.test(name)) {
    throw new StratusError('INVALID_REQUEST', `alias "${name.slice(0, 80)}": use a-z, 0-9 and "-", starting with a letter (at most 63), not shaped like a version ("v3")`, { field: 'alias' });
  }
}

/**
 * Picks a version by weight with `r` uniform in [0, 1): no state, so no lock on the invoke path, and
 * 1,000 calls at 20 % give 200 ± 13 (one standard deviation) to the canary.
 */
export function pickWeighted(versions: readonly WeightedVersion[], r: number): number {
  let acc = 0;
  for (const v of versions) {
    acc += v.weight;
    if (r * 100 < acc) return v.version;
  }
  return versions[versions.length - 1]!.version;
}

/** Where an alias of `fn` points now: `latest` follows the current version; null for an unknown alias. */
export function aliasVersions(fn: { currentVersion: number | null; aliases?: Record<string, AliasTarget> }, alias: string): WeightedVersion[] | null {
  const target = fn.aliases?.[alias];
  if (target) return target.versions;
  if (alias === LATEST && fn.currentVersion !== null) return [{ version: fn.currentVersion, weight: 100 }];
  return null;
}

/** Every version some alias of `fn` points at (latest included): the versions whose instances must stay. */
export function aliasedVersions(fn: { currentVersion: number | null; aliases?: Record<string, AliasTarget> }): Set<number> {
  const all = new Set<number>();
  if (fn.currentVersion !== null) all.add(fn.currentVersion);
  for (const t of Object.values(fn.aliases ?? {})) for (const v of t.versions) all.add(v.version);
  return all;
}
