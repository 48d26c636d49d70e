// docs/api.md from the OpenAPI document: the hand-written conventions (api-header.md), then one section per
// tag, each operation with its method and path, summary, credentials, parameters, request body fields and
// answers. Written by `npm run docs:api` (scripts/docs-api.ts); test/unit/docs-api.test.ts fails when the
// page is not what the document renders now.

type Schema = Record<string, unknown> & {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  default?: unknown;
  additionalProperties?: Schema | boolean;
};
interface Parameter { name: string; in: string; required?: boolean; description?: string; schema: Schema }
interface Operation {
  tags?: string[];
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: Schema }> }>;
}
interface Document {
  tags?: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head'];
const CREDENTIALS: Record<string, string> = {
  adminKey: 'the admin key (Bearer)',
  minioToken: 'MinIO\'s token (Bearer `STRATUS_MINIO_WEBHOOK_TOKEN`)',
  githubSignature: 'a forge\'s signature or token made with the function\'s `git.secret`',
};
/** Fields of nested objects are listed down to this depth (a.b.c); deeper ones stay "object". */
const MAX_DEPTH = 4;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s.replace(/`/g, '\'')}\``;
const anchor = (s: string) => s.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');

export function renderApiMarkdown(doc: Document, header: string): string {
  const resolve = (s: Schema): Schema => {
    if (!s.$ref) return s;
    const found = doc.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')];
    if (!found) throw new Error(`unresolved ${s.$ref}`);
    return { ...found, ...(s.description ? { description: s.description } : {}) };
  };

  /** A compact type: `integer 64–8192`, `"node" \| "python"`, `array of string`, `object`. */
  const typeOf = (raw: Schema): string => {
    if (raw.$ref) {
      const name = raw.$ref.replace('#/components/schemas/', '');
      return `[${name}](#${anchor(name)})`;
    }
    const s = raw;
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
    const alts = s.anyOf ?? s.oneOf;
    if (alts) return alts.map(typeOf).join(' or ');
    const type = Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any JSON');
    if (type === 'array') return `array of ${s.items ? typeOf(s.items) : 'any'}${range(s, 'minItems', 'maxItems', ' items')}`;
    if (type === 'object' && !s.properties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties)}`;
    return `${type}${range(s, 'minimum', 'maximum', '')}${range(s, 'minLength', 'maxLength', ' chars')}`;
  };
  const range = (s: Schema, lo: string, hi: string, unit: string) => {
    const a = s[lo] as number | undefined;
    const b = s[hi] as number | undefined;
    if (a === undefined && b === undefined) return '';
    if (a === undefined) return ` ≤ ${b}${unit}`;
    if (b === undefined) return ` ≥ ${a}${unit}`;
    return ` ${a}–${b}${unit}`;
  };
  const notes = (raw: Schema): string => {
    const s = resolve(raw);
    const parts = [s.description ?? ''];
    if (typeof s.pattern === 'string') parts.push(`pattern ${code(s.pattern)}`);
    if (typeof s.format === 'string') parts.push(`format ${s.format}`);
    return parts.filter(Boolean).join('; ');
  };

  /** Rows `| field | type | required | default | about |` of an object's fields, nested ones dotted. */
  const fieldRows = (raw: Schema, prefix: string, depth: number): string[] => {
    const s = resolve(raw);
    const rows: string[] = [];
    for (const [name, field] of Object.entries(s.properties ?? {})) {
      const path = prefix + name;
      const dflt = field.default === undefined ? '' : code(JSON.stringify(field.default));
      rows.push(`| ${code(path)} | ${cell(typeOf(field))} | ${s.required?.includes(name) ? 'yes' : ''} | ${cell(dflt)} | ${cell(notes(field))} |`);
      // A named schema is listed once, under Schemas; an inline object's fields follow it, dotted.
      if (depth < MAX_DEPTH && field.properties) rows.push(...fieldRows(field, `${path}.`, depth + 1));
      if (depth < MAX_DEPTH && field.items?.properties) rows.push(...fieldRows(field.items, `${path}[].`, depth + 1));
    }
    return rows;
  };
  const fieldTable = (s: Schema) => {
    const rows = fieldRows(s, '', 1);
    return rows.length === 0 ? [] : ['| field | type | required | default | about |', '|---|---|---|---|---|', ...rows];
  };

  /** A body: its fields, or for a union (a trigger, an alias move) each alternative's. */
  const body = (raw: Schema): string[] => {
    if (raw.$ref) return [`${typeOf(raw)}${raw.description ? `: ${raw.description}` : ''}`];
    const s = raw;
    const alts = s.anyOf ?? s.oneOf;
    if (alts) {
      return alts.flatMap((alt, i) => {
        const a = resolve(alt);
        const tag = Object.entries(a.properties ?? {}).find(([, p]) => resolve(p).const !== undefined);
        const title = tag ? `${tag[0]}: ${JSON.stringify(resolve(tag[1]).const)}` : `form ${i + 1}`;
        return ['', `*One of* — ${code(title)}:`, '', ...fieldTable(a)];
      });
    }
    const table = fieldTable(s);
    return table.length > 0 ? table : [notes(s) || typeOf(s)];
  };

  const credentials = (op: Operation) => {
    const first = op.security?.[0];
    if (!first) return 'none';
    return CREDENTIALS[Object.keys(first)[0]!] ?? Object.keys(first)[0]!;
  };

  const operation = (method: string, path: string, op: Operation): string[] => {
    const out = [`### ${method.toUpperCase()} ${path}`, '', `**${op.summary ?? ''}**`, ...(op.description ? ['', op.description] : []), '', `Credentials: ${credentials(op)}.`];
    const params = op.parameters ?? [];
    if (params.length > 0) {
      out.push('', '| parameter | in | type | about |', '|---|---|---|---|');
      for (const p of params) out.push(`| ${code(p.name)}${p.required ? ' (required)' : ''} | ${p.in} | ${cell(typeOf(p.schema))} | ${cell(notes({ ...p.schema, description: p.description ?? p.schema.description }))} |`);
    }
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
      out.push('', `Request body, ${code(type)}${op.requestBody?.required ? '' : ' (optional)'}:`, '');
      if (media.schema) out.push(...body(media.schema));
    }
    out.push('', '| status | answer |', '|---|---|');
    for (const [status, r] of Object.entries(op.responses)) {
      const types = Object.keys(r.content ?? {}).filter((t) => t !== 'application/problem+json');
      out.push(`| ${status} | ${cell(r.description)}${types.length > 0 ? ` (${types.map(code).join(', ')})` : ''} |`);
    }
    return [...out, ''];
  };

  const tags = (doc.tags ?? []).map((t) => t.name);
  const sections = tags.map((tag) => {
    const ops = Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]?.tags?.includes(tag)).map((m) => operation(m, path, item[m]!)));
    return [`## ${tag}`, '', ...ops.flat()].join('\n');
  });
  const named = Object.entries(doc.components?.schemas ?? {});
  const schemas = named.map(([name, s]) => [`### ${name}`, '', ...(s.description ? [s.description, ''] : []), ...body({ ...s, description: undefined })].join('\n'));
  const contents = [...tags, 'Schemas'].map((t) => `- [${t}](#${anchor(t)})`).join('\n');
  return [
    '<!-- Generated by `npm run docs:api` from the OpenAPI document (gateway/api/openapi/) and gateway/api/openapi/api-header.md: edit those, not this file. -->',
    '',
    header.trim(),
    '',
    '## Operations',
    '',
    contents,
    '',
    ...sections,
    '## Schemas',
    '',
    'The bodies named above, field by field.',
    '',
    ...schemas.flatMap((s) => [s, '']),
  ].join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}
