/* global document, window, URLSearchParams */
// The storage page's upload: the chosen file is sent as it is (the request body, application/octet-stream,
// so no form parser buffers it) with the object's key and media type in the query and the page's CSRF token
// in the x-csrf-token header; the server streams it into the bucket under the S3 endpoint's size bound. On
// success the page reloads to list the object; a refusal is shown as the server's message (text, not markup).
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const form = document.getElementById('upload-form');
  const out = document.getElementById('upload-result');
  if (!form || !out) return;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const file = form.querySelector('#upload-file').files[0];
    if (!file) return;
    const typed = form.querySelector('#upload-key').value;
    const key = typed !== '' ? typed : `${form.getAttribute('data-prefix') ?? ''}${file.name}`;
    const query = new URLSearchParams({ key, type: /^[\w.+-]+\/[\w.+-]+$/.test(file.type) ? file.type : 'application/octet-stream' });
    const button = form.querySelector('button');
    button.disabled = true;
    out.textContent = `Uploading ${key}…`;
    try {
      const res = await fetch(`${form.action}?${query}`, {
        method: 'POST',
        headers: { accept: 'application/json', 'x-csrf-token': csrf, 'content-type': 'application/octet-stream' },
        body: file,
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        out.textContent = `${res.status} ${body.code ?? ''}: ${body.detail ?? 'refused'}`;
        out.className = 'flash flash-error';
        return;
      }
      out.textContent = body.message;
      out.className = 'flash flash-ok';
      window.location.reload();
    } catch (err) {
      out.textContent = `the upload did not complete: ${err.message}`;
      out.className = 'flash flash-error';
    } finally {
      button.disabled = false;
    }
  });
})();
