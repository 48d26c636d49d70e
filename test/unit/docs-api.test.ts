// docs/api.md is generated from the OpenAPI document (npm run docs:api): it fails here when a route, a
// schema or the header changed and the page was not regenerated.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/paths.js';
import { API_PAGE, apiMarkdown } from '../../gateway/api/openapi/api-page.js';
import { openApiDocument } from '../../gateway/api/openapi/document.js';

describe('docs/api.md', () => {
  it('is what the OpenAPI document renders now (else: npm run docs:api)', () => {
    const onDisk = fs.readFileSync(path.join(PROJECT_ROOT, API_PAGE), 'utf8');
    // Compared line by line so a failure shows where the page went stale.
    expect(onDisk.split('\n'), `${API_PAGE} is stale: run npm run docs:api`).toEqual(apiMarkdown().split('\n'));
  });

  it('has a section for every operation of the document', () => {
    const page = apiMarkdown();
    const paths = (openApiDocument() as { paths: Record<string, Record<string, unknown>> }).paths;
    const ops = Object.entries(paths).flatMap(([p, item]) => Object.keys(item).map((m) => `### ${m.toUpperCase()} ${p}\n`));
    expect(ops.length).toBeGreaterThan(40);
    for (const op of ops) expect(page).toContain(op);
  });
});
