// The API reference page, docs/api.md: the document rendered (markdown.ts) under the hand-written header.

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../core/paths.js';
import { openApiDocument } from './document.js';
import { renderApiMarkdown } from './markdown.js';

/** Where the page lives, from the repository's root. */
export const API_PAGE = 'docs/api.md';

export function apiMarkdown(): string {
  // From the sources, not dist/: the header is not compiled, and the page is built in a checkout.
  const header = fs.readFileSync(path.join(PROJECT_ROOT, 'gateway/api/openapi/api-header.md'), 'utf8');
  return renderApiMarkdown(openApiDocument() as never, header);
}
