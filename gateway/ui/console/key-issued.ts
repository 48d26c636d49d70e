// The page that answers "Issue an invoke key": the one place a key is ever shown. It is the answer to the
// POST itself — never a redirect (no URL carries it), never a flash (no later page does), and no-store like
// every dashboard answer (guard.ts's securityHeaders) — so leaving the page loses the key for good.

import type { InvokeKeyRecord } from '../../../core/store/triggers.js';
import type { DashboardDeps } from '../deps.js';
import { html, seg, type Html } from '../html.js';

/** The page that shows a new invoke key: its only appearance (the answer to the POST, never stored, no-store). */
export function keyIssuedBody(d: DashboardDeps, name: string, k: InvokeKeyRecord & { key: string }, header: string): Html {
  const url = d.origins.functionUrl(name, undefined);
  return html`<link rel="stylesheet" href="/ui/assets/console-triggers.css">
<section class="panel key-issued">
<h1>Invoke key for ${name}</h1>
<p><strong>Copy it now: this is the only time it is shown.</strong> Stratus keeps only its hash.</p>
<p><code id="new-invoke-key" class="secret">${k.key}</code></p>
<p>Send it in <code>${header}</code>: <code>curl -H '${header}: ${k.key}' ${url}</code></p>
<p class="sub">Key <code>${k.prefix}…</code>${k.name ? ` (${k.name})` : ''}. It opens the URL only while the http trigger says "only with an invoke key".</p>
<p><a href="/ui/functions/${seg(name)}/triggers" id="key-done">Done, back to the triggers</a></p>
</section>`;
}
