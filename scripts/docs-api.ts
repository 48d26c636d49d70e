// npm run docs:api — writes docs/api.md from the API's OpenAPI document (gateway/api/openapi/). With --check it
// writes nothing and exits 1 when docs/api.md is not what the document renders now.

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../core/paths.js';
import { apiMarkdown, API_PAGE } from '../gateway/api/openapi/api-page.js';

const page = path.join(PROJECT_ROOT, API_PAGE);
const text = apiMarkdown();
if (process.argv.includes('--check')) {
  const current = fs.existsSync(page) ? fs.readFileSync(page, 'utf8') : '';
  if (current !== text) {
    console.error(`${API_PAGE} is stale: run npm run docs:api`);
    process.exit(1);
  }
  console.log(`${API_PAGE} is up to date`);
} else {
  fs.writeFileSync(page, text);
  console.log(`wrote ${API_PAGE} (${text.split('\n').length} lines)`);
}
