/* global document, FormData, URLSearchParams */
// The console pages' script (triggers, keys, traffic). Everything works without it — the Preview button asks
// the server for the next fire times, the slider's form posts its value — and with it: the cron form shows
// the next fire times as the schedule is typed (the same preview endpoint, as JSON), the weight slider says
// which version gets what share. Text only goes into the page as text (textContent), never as markup.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

  // --- the cron preview, while typing ---
  const form = document.getElementById('cron-form');
  const out = document.getElementById('cron-preview');
  const previewButton = document.getElementById('cron-preview-button');
  let timer;
  let asked = 0;
  const preview = async () => {
    const ticket = ++asked;
    const schedule = form.querySelector('[name="schedule"]').value.trim();
    if (schedule === '') return;
    const res = await fetch(previewButton.getAttribute('formaction'), {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': csrf, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(new FormData(form)),
    });
    const body = await res.json();
    if (ticket !== asked) return; // a newer keystroke asked since
    out.textContent = '';
    const head = document.createElement('p');
    head.className = res.ok ? 'sub' : 'flash flash-error';
    head.textContent = res.ok ? `Next fires (${body.timezone}):` : body.detail ?? 'refused';
    out.append(head);
    if (!res.ok) return;
    const list = document.createElement('ol');
    list.className = 'preview';
    for (const t of body.next) {
      const li = document.createElement('li');
      const time = document.createElement('time');
      time.setAttribute('datetime', t);
      time.textContent = t.replace('T', ' ').replace('.000Z', ' UTC');
      li.append(time);
      list.append(li);
    }
    out.append(list);
  };
  if (form && out && previewButton) {
    for (const name of ['schedule', 'timezone']) {
      form.querySelector(`[name="${name}"]`)?.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(() => preview().catch(() => {}), 250);
      });
    }
  }

  // --- the canary's weight slider ---
  const slider = document.getElementById('canary-weight');
  const said = document.getElementById('canary-weight-out');
  const stable = document.getElementById('canary-stable');
  const canary = document.getElementById('canary-version');
  const say = () => {
    const w = Number(slider.value);
    said.textContent = `${w} % to v${canary.value}, ${100 - w} % to v${stable.value}`;
  };
  if (slider && said && stable && canary) {
    for (const el of [slider, stable, canary]) el.addEventListener('input', say);
    say();
  }
})();
