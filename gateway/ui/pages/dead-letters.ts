// A function's dead letters: the async invocations (API, function URL, cron, storage) that failed their last
// attempt, each with its last error, and the forms that queue one or all of them again with fresh attempts.

import type { AsyncView } from '../../../control/invocations/async-queue.js';
import { ago, html, seg, type Html } from '../html.js';
import { csrfField } from '../layout.js';
import type { Session } from '../sessions.js';

export function deadLettersBody(name: string, letters: AsyncView[], session: Session, now: number): Html {
  const fn = `/ui/functions/${seg(name)}`;
  return html`<h1><a href="${fn}">${name}</a> · dead letters</h1>
<section class="panel" aria-label="Dead letters">
${letters.length === 0 ? html`<p class="empty" id="no-dead-letters">No dead letter: every async invocation of ${name} ran or is still being tried.</p>` : html`
<form method="post" action="${fn}/dead-letters/replay" id="replay-all">${csrfField(session)}<button type="submit">Replay all ${letters.length}</button></form>
<table class="grid" id="dead-letters"><thead><tr><th>Invocation</th><th>Trigger</th><th>Queued</th><th>Failed</th><th class="num">Attempts</th><th>Last error</th><th></th></tr></thead><tbody>
${letters.map((l) => html`<tr data-invocation="${l.id}">
  <td><a href="${fn}/invocations/${seg(l.id)}"><code>${l.id}</code></a></td><td>${l.trigger}</td>
  <td>${ago(l.timings.queuedAt, now)}</td><td>${ago(l.timings.finishedAt, now)}</td><td class="num">${l.attempts} / ${l.maxAttempts}</td>
  <td class="error-text">${l.error ? html`<strong>${l.error.code}</strong> ${l.error.message}` : '–'}</td>
  <td><form method="post" action="${fn}/dead-letters/${seg(l.id)}/replay">${csrfField(session)}<button type="submit">Replay</button></form></td>
</tr>`)}
</tbody></table>`}
</section>`;
}
