// The console's edit page (gateway/ui/console/code-page.ts) keeps a file's text exact through the browser's
// form: a leading blank line survives the HTML parser (which drops one newline after <textarea>), and a file
// with CR line ends, which a browser would turn into LF, is not offered for editing (nor the redeploy).

import { describe, expect, it } from 'vitest';
import type { SourceFiles } from '../../control/functions/version-sources.js';
import { codeBody } from '../../gateway/ui/console/code-page.js';

const src = (files: SourceFiles['files']): SourceFiles => ({ function: 'f', version: 1, sourceName: 'app.zip', singleFile: null, files, truncated: false });

describe('the edit page', () => {
  it('puts a newline after <textarea> so a leading blank line is kept', () => {
    const out = codeBody(src([{ path: 'index.js', bytes: 10, text: '\nexport x;\n' }]), [], 1).toString();
    expect(out).toContain('rows="16">\n\nexport x;\n</textarea>');
    expect(out).not.toMatch(/<button type="submit" disabled>Deploy/);
  });

  it('does not offer a file with CR line ends for editing, nor the redeploy', () => {
    const out = codeBody(src([{ path: 'index.js', bytes: 10, text: 'a\r\nb\r\n' }]), [], 1).toString();
    expect(out).not.toContain('data-path="index.js"');
    expect(out).toMatch(/Not in the editor: <code>index.js<\/code> \(has CR line ends/);
    expect(out).toMatch(/<button type="submit" disabled>Deploy as a new version/);
  });
});
