// Keeps the error catalogue honest (the fastify idea): every code in core/errors.ts has a status and a
// title, and docs/errors.md documents every code with the same status, when it happens and what to do.
// Adding a code without documenting it fails here.

import { readFileSync } from 'node:fs';
import express from 'express';
import request from 'supertest';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ERROR_DOCS_PATH, StratusError, toProblem, type ErrorCode } from '../../core/errors.js';
import { systemRouter } from '../../gateway/api/routes/system.js';

const DOC_PATH = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));
const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

interface DocEntry {
  status: number | undefined;
  when: boolean;
  whatToDo: boolean;
}

/** Sections of docs/errors.md: a `### CODE` heading, then bullet lines for status, when, what to do. */
function parseDoc(markdown: string): Map<string, DocEntry> {
  const entries = new Map<string, DocEntry>();
  const sections = markdown.split(/^### /m).slice(1);
  for (const section of sections) {
    const [heading = '', ...body] = section.split('\n');
    const text = body.join('\n');
    const status = /^- \*\*HTTP status:\*\* (\d{3})\s*$/m.exec(text);
    entries.set(heading.trim(), {
      status: status ? Number(status[1]) : undefined,
      when: /^- \*\*When:\*\* \S/m.test(text),
      whatToDo: /^- \*\*What to do:\*\* \S/m.test(text),
    });
  }
  return entries;
}

describe('error catalogue', () => {
  it('gives every code an HTTP error status and a title', () => {
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) {
      const { status, title } = ERROR_CATALOGUE[code];
      expect(code).toMatch(/^[A-Z][A-Z_]*$/);
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code} status ${status}`).toBe(true);
      expect(title.trim().length, `${code} title`).toBeGreaterThan(0);
    }
  });

  it('builds a problem document carrying the code, status and title of each code', () => {
    for (const code of codes) {
      const problem = toProblem(new StratusError(code, 'what to do next'));
      expect(problem).toMatchObject({ code, status: ERROR_CATALOGUE[code].status, title: ERROR_CATALOGUE[code].title, detail: 'what to do next' });
    }
  });

  describe('docs/errors.md', () => {
    const doc = parseDoc(readFileSync(DOC_PATH, 'utf8'));

    it.each(codes)('documents %s with its status, when it happens and what to do', (code) => {
      const entry = doc.get(code);
      expect(entry, `${code} is missing from docs/errors.md: add a "### ${code}" section`).toBeDefined();
      expect(entry!.status, `${code}: the documented HTTP status differs from core/errors.ts`).toBe(ERROR_CATALOGUE[code].status);
      expect(entry!.when, `${code}: add a "- **When:**" line`).toBe(true);
      expect(entry!.whatToDo, `${code}: add a "- **What to do:**" line`).toBe(true);
    });

    it("gives every problem a type that is its entry's anchor in the catalogue the gateway serves", async () => {
      const markdown = readFileSync(DOC_PATH, 'utf8');
      // GitHub's heading anchor: the heading lower-cased (a code has only letters and underscores).
      const anchors = new Set([...markdown.matchAll(/^### ([A-Z_]+)$/gm)].map((m) => m[1]!.toLowerCase()));
      for (const code of codes) {
        const type = toProblem(new StratusError(code, 'x')).type as string;
        expect(type, code).toBe(`${ERROR_DOCS_PATH}#${code.toLowerCase()}`);
        expect(anchors.has(type.split('#')[1]!), `${type} names no heading of docs/errors.md`).toBe(true);
      }
      expect(markdown, "docs/errors.md's example shows the type as answered").toContain(`"type": "${toProblem(new StratusError('FUNCTION_NOT_FOUND', 'x')).type as string}"`);
      const app = express().use(systemRouter({ registry: { render: async () => '' } as never, auth: (_q, r) => void r.status(401).end(), storeKind: 'memory', backendKind: 'process' }));
      const served = await request(app).get(ERROR_DOCS_PATH);
      expect(served.status).toBe(200);
      expect(served.headers['content-type']).toMatch(/^text\/markdown/);
      expect(served.text).toBe(markdown);
    });

    it('documents no code that does not exist', () => {
      expect([...doc.keys()].filter((c) => !(c in ERROR_CATALOGUE))).toEqual([]);
    });

    it('the check itself notices a missing code', () => {
      const [first, ...rest] = codes;
      const withoutFirst = readFileSync(DOC_PATH, 'utf8').replace(new RegExp(`^### ${first}$`, 'm'), '### REMOVED');
      const partial = parseDoc(withoutFirst);
      expect(partial.has(first!)).toBe(false);
      expect(rest.every((c) => partial.has(c))).toBe(true);
    });
  });
});
