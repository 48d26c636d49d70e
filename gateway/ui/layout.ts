// The page around every dashboard view: navigation, the sign-out form, the flash message of the last
// action, the CSRF token for the page's script, and the live stream the script should follow. No inline
// script or style (the Content-Security-Policy forbids them): behaviour comes from /ui/assets/dashboard.js.

import type { Response } from 'express';
import { html, type Html } from './html.js';
import { CSRF_FIELD } from './guard.js';
import { takeFlash, type Flash, type Session } from './sessions.js';

export interface PageOptions {
  title: string;
  session: Session | null;
  nav?: 'functions' | 'host' | 'storage';
  /** The /ui/live query this page's fragments are refreshed from, if any. */
  live?: string;
  body: Html;
  /** The last action's message, taken from the session (answerPage does). */
  flash?: Flash | null;
}

/** Answers with a page, showing the session's flash, which it takes from the store before the answer leaves. */
export async function answerPage(res: Response, status: number, o: Omit<PageOptions, 'flash'>): Promise<void> {
  const flash = await takeFlash(res);
  res.status(status).type('html').send(page({ ...o, flash }));
}

export function page(o: PageOptions): string {
  const flash = o.flash ?? null;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Stratus</title>
${o.session ? html`<meta name="csrf-token" content="${o.session.csrf}">` : ''}
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/uPlot.min.css">
<link rel="stylesheet" href="/ui/assets/dashboard.css">
<script src="/ui/assets/uPlot.iife.min.js" defer></script>
<script src="/ui/assets/dashboard.js" defer></script>
${o.nav === 'storage' ? html`<script src="/ui/assets/storage.js" defer></script>` : ''}
</head>
<body${o.live ? html` data-live="/ui/live?${o.live}"` : ''}>
<header class="top">
  <a class="brand" href="/ui/functions">Stratus</a>
  ${o.session ? html`<nav>
    <a href="/ui/functions"${o.nav === 'functions' ? html` aria-current="page"` : ''}>Functions</a>
    <a href="/ui/host"${o.nav === 'host' ? html` aria-current="page"` : ''}>Host</a>
    <a href="/ui/storage"${o.nav === 'storage' ? html` aria-current="page"` : ''}>Storage</a>
  </nav>
  <span class="live-dot" id="live-state" title="live updates">live</span>
  <form method="post" action="/ui/logout" class="signout">${csrfField(o.session)}<button type="submit">Sign out</button></form>` : ''}
</header>
<main>
${flash ? html`<p class="flash flash-${flash.kind}" role="status">${flash.text}</p>` : ''}
${o.body}
</main>
</body>
</html>`.value;
}

export const csrfField = (s: Session) => html`<input type="hidden" name="${CSRF_FIELD}" value="${s.csrf}">`;

/** A fragment the live stream may replace: the same markup the page first rendered. */
export const live = (id: string, tag: 'div' | 'tbody' | 'section', inner: Html, cls = '') => html`<${tag} id="${id}"${cls ? html` class="${cls}"` : ''}>${inner}</${tag}>`;
