// The sign-in form: the admin key, posted once and exchanged for a session cookie. It is never put in a URL
// or in the page's storage; the field is a password field so the browser may offer to keep it, or not.

import { html, type Html } from '../html.js';

export function loginBody(next: string, error: string | null): Html {
  return html`<section class="login panel">
<h1>Sign in</h1>
<p>Give the admin API key (<code>.stratus/api-key</code> where Stratus runs, or <code>STRATUS_API_KEY</code>).</p>
${error ? html`<p class="flash flash-error" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/login">
  <input type="hidden" name="next" value="${next}">
  <label for="key">Admin key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
  <button type="submit">Sign in</button>
</form>
${next !== '/ui/functions' ? html`<p class="note">Signed in already in this browser? <a href="${next}">Continue</a> (a link from another site arrives without the cookie).</p>` : ''}
</section>`;
}

/** Only a dashboard path may follow sign-in: never another site, never a scheme-relative //host. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ui(\/[A-Za-z0-9._~%\-/?=&@]*)?$/.test(next) && !next.startsWith('//') ? next : '/ui/functions';
}
