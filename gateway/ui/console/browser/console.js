/* global document, window, FormData, Blob, File, TextEncoder, CSS */
// The console's script (bundled with CodeMirror 6 by scripts/build-console.mjs, served as /ui/assets/console.js):
// turns each code <textarea> into an editor (JavaScript or Python highlighting; the textarea stays the value
// of record), and deploys the create and edit forms with fetch — a multipart upload, parts config and code,
// to /ui/console/deploy, which hands it to the API's own upload path. The CSRF token travels in a header
// (a multipart body is not read before the token is checked). Every text set here goes through textContent.
import { basicSetup, EditorView } from 'codemirror';
import { Compartment } from '@codemirror/state';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';

const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

const languageFor = (pathOrRuntime) => (/(^python$|\.py$)/.test(pathOrRuntime) ? python() : javascript());

/**
 * An editor over `textarea`, kept in sync with it; `language` can be swapped (a runtime change). It lives in
 * a shadow root: there CodeMirror's generated styles go into a constructed stylesheet, where on the
 * document they would be a <style> element the dashboard's CSP (styles from /ui/assets/ only) refuses.
 */
function mount(textarea, what) {
  const language = new Compartment();
  const host = document.createElement('div');
  host.className = 'code-host';
  const shadow = host.attachShadow({ mode: 'open' });
  const sheet = document.createElement('link');
  sheet.rel = 'stylesheet';
  sheet.href = '/ui/assets/console.css';
  shadow.append(sheet);
  const view = new EditorView({
    root: shadow,
    parent: shadow,
    doc: textarea.value,
    extensions: [
      basicSetup,
      language.of(languageFor(what)),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) textarea.value = u.state.doc.toString();
      }),
    ],
  });
  host.dataset.path = textarea.dataset.path ?? '';
  textarea.after(host);
  textarea.hidden = true;
  return {
    host,
    view,
    setLanguage: (w) => view.dispatch({ effects: language.reconfigure(languageFor(w)) }),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
  };
}

// --- a tar (ustar) of text files, for a multi-file edit: the builder unpacks it like any upload ---
function tarOf(files) {
  const enc = new TextEncoder();
  const blocks = [];
  const field = (buf, offset, length, text) => buf.set(enc.encode(text).subarray(0, length), offset);
  const octal = (n, width) => n.toString(8).padStart(width - 1, '0') + '\0';
  for (const { path, text } of files) {
    const body = enc.encode(text);
    let name = path;
    let prefix = '';
    if (enc.encode(name).length > 100) {
      const cut = path.lastIndexOf('/', 154);
      // ustar's fields are bytes (prefix 155, name 100): a longer one would be cut silently, naming another file.
      if (cut <= 0 || enc.encode(path.slice(0, cut)).length > 155 || enc.encode(path.slice(cut + 1)).length > 100) throw new Error(`the path ${path} is too long for the editor to pack; upload an archive instead`);
      prefix = path.slice(0, cut);
      name = path.slice(cut + 1);
    }
    const h = new Uint8Array(512);
    field(h, 0, 100, name);
    field(h, 100, 8, '0000644\0');
    field(h, 108, 8, '0000000\0');
    field(h, 116, 8, '0000000\0');
    field(h, 124, 12, octal(body.length, 12));
    field(h, 136, 12, octal(Math.floor(Date.now() / 1000), 12));
    field(h, 148, 8, '        ');
    field(h, 156, 1, '0');
    field(h, 257, 6, 'ustar\0');
    field(h, 263, 2, '00');
    field(h, 345, 155, prefix);
    const sum = h.reduce((a, b) => a + b, 0);
    field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h, body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return new Blob(blocks, { type: 'application/x-tar' });
}

/** Posts the upload; on success goes to the build page (which lands on the function once it serves). */
async function deploy(form, config, code, codeName) {
  const out = form.querySelector('.deploy-error');
  const button = form.querySelector('button[type="submit"]');
  for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
  out.textContent = '';
  button.disabled = true;
  try {
    const body = new FormData();
    body.append('config', new Blob([JSON.stringify(config)], { type: 'application/json' }), 'config.json');
    body.append('code', code, codeName);
    const res = await fetch(form.action, { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': csrf }, body });
    const answer = await res.json().catch(() => ({}));
    if (res.ok) {
      window.location.assign(answer.links.build);
      return;
    }
    // The API's own message; beside its field when the form has one.
    const field = String(answer.field ?? '').replace(/^(config|body)\./, '').split('.')[0];
    const slot = field ? form.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`) : null;
    (slot ?? out).textContent = `${answer.detail ?? `${res.status} refused`}`;
    if (slot) out.textContent = `${answer.code ?? res.status}: see ${field}`;
  } catch (err) {
    out.textContent = `The deploy could not be sent: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// --- the create page ---
const create = document.getElementById('new-function');
if (create) {
  const source = create.querySelector('textarea.code');
  const runtime = create.querySelector('select[name="runtime"]');
  const template = (r) => document.querySelector(`textarea[data-template="${r}"]`)?.value ?? '';
  const editor = mount(source, runtime.value);
  runtime.addEventListener('change', () => {
    editor.setLanguage(runtime.value);
    // A template nobody edited follows the runtime; edited code stays.
    if (['node', 'python'].some((r) => template(r) === source.value)) editor.setText(template(runtime.value));
  });
  const upload = create.querySelector('input[type="file"][name="code"]');
  const choose = () => {
    const fromUpload = create.querySelector('input[name="source"]:checked')?.value === 'upload';
    create.querySelector('.source-upload').hidden = !fromUpload;
    create.querySelector('.source-editor').hidden = fromUpload;
  };
  for (const r of create.querySelectorAll('input[name="source"]')) r.addEventListener('change', choose);
  choose();
  create.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const out = create.querySelector('.deploy-error');
    let config;
    try {
      config = configOf(create);
    } catch (err) {
      out.textContent = err.message;
      return;
    }
    const fromUpload = create.querySelector('input[name="source"]:checked')?.value === 'upload';
    if (fromUpload) {
      const file = upload.files?.[0];
      if (!file) {
        out.textContent = 'Choose a .zip, a .tar.gz or a single source file to upload.';
        return;
      }
      return void deploy(create, config, file, file.name);
    }
    const name = runtime.value === 'python' ? 'main.py' : 'index.mjs';
    void deploy(create, config, new File([source.value], name, { type: 'text/plain' }), name);
  });
}

/** The settings form as the API's config: empty fields left out (the API's defaults), numbers as numbers. */
function configOf(form) {
  const v = (n) => form.elements.namedItem(n)?.value?.trim() ?? '';
  const config = { name: v('name'), runtime: v('runtime') };
  for (const k of ['memoryMb', 'timeoutMs', 'concurrency', 'minInstances', 'maxInstances', 'cpus']) {
    const raw = v(k);
    // Not a number: sent as typed, so the API's validation names the field and says what it takes.
    if (raw !== '') config[k] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  if (v('network')) config.network = v('network');
  const env = {};
  v('env').split('\n').map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`env, line ${i + 1}: write NAME=value`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  if (Object.keys(env).length > 0) config.env = env;
  config.checks = { lint: form.elements.namedItem('checksLint').checked, test: form.elements.namedItem('checksTest').checked };
  return config;
}

// --- the edit page: one editor per text file, shown by the file picker ---
const edit = document.getElementById('code-form');
if (edit) {
  const areas = [...edit.querySelectorAll('textarea.source-file')];
  const editors = new Map(areas.map((a) => [a.dataset.path, mount(a, a.dataset.path)]));
  const picker = document.getElementById('code-file');
  const show = () => {
    for (const [p, e] of editors) e.host.hidden = p !== picker.value;
  };
  picker?.addEventListener('change', show);
  show();
  edit.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const files = areas.map((a) => ({ path: a.dataset.path, text: a.value }));
    const single = edit.dataset.single;
    try {
      // The version's settings are kept server-side (the redeploy inherits them); {} changes none.
      if (single) void deploy(edit, {}, new File([files[0].text], single, { type: 'text/plain' }), single);
      else void deploy(edit, {}, tarOf(files), 'code.tar');
    } catch (err) {
      edit.querySelector('.deploy-error').textContent = err.message;
    }
  });
}
