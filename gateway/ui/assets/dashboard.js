/* global document, window, EventSource, FormData, URLSearchParams, uPlot */
// The dashboard's only script. The pages work without it (forms post, links open, a reload shows what is
// new); with it they follow their live stream (/ui/live, server-sent events): each `fragment` event
// replaces one part of the page with markup the server rendered and escaped, `series` redraws the charts
// (uPlot). The invoke form posts with fetch and shows the result in place. No key, no token is stored:
// the session cookie is HttpOnly, and the CSRF token is read from the page it belongs to.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const dot = document.getElementById('live-state');

  // --- search box: filters the rows as you type (the form's GET does the same without script) ---
  const search = document.getElementById('search');
  const filter = () => {
    if (!search) return;
    const q = search.value.trim().toLowerCase();
    for (const row of document.querySelectorAll('#functions-rows tr[data-name]')) {
      row.hidden = q !== '' && !row.getAttribute('data-name').includes(q);
    }
  };
  search?.addEventListener('input', filter);

  // --- charts ---
  const CHARTS = {
    rate: { series: [['req/s', 'rate', '#2563eb']] },
    latency: { series: [['p50', 'p50', '#16a34a'], ['p95', 'p95', '#d97706'], ['p99', 'p99', '#dc2626']] },
    errors: { series: [['errors', 'errors', '#dc2626']] },
    cold: { series: [['cold starts', 'cold', '#7c3aed']] },
    instances: { series: [['instances', 'instances', '#0891b2']] },
  };
  // Only the powers of ten are labelled and gridded on the log axis, in ms below a second and s above.
  const decade = (v) => v > 0 && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9;
  const decades = (_u, splits) => splits.map((v) => (decade(v) ? v : null));
  const LOG_AXIS = {
    size: 64,
    filter: decades,
    grid: { filter: decades },
    ticks: { filter: decades },
    values: (_u, splits) => splits.map((v) => (v === null ? '' : v >= 1000 ? `${v / 1000} s` : `${v} ms`)),
  };
  const plots = new Map();
  const drawCharts = (s) => {
    if (typeof uPlot === 'undefined') return;
    for (const el of document.querySelectorAll('.plot[data-chart]')) {
      const key = el.getAttribute('data-chart');
      const spec = CHARTS[key];
      if (!spec) continue;
      const data = [s.t, ...spec.series.map(([, field]) => s[field])];
      const existing = plots.get(key);
      if (existing) {
        existing.setData(data);
        continue;
      }
      const opts = {
        width: Math.max(200, el.clientWidth),
        height: 160,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        // Latency spans a warm call's milliseconds to a cold start's seconds: a log scale keeps both readable.
        scales: { y: key === 'latency' ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, Math.max(max ?? 0, 1) * 1.1] } },
        axes: [{}, key === 'latency' ? LOG_AXIS : { size: 50 }],
        series: [{}, ...spec.series.map(([label, , stroke]) => ({ label, stroke, width: 1.5, spanGaps: key === 'latency' || key === 'instances' }))],
      };
      plots.set(key, new uPlot(opts, data, el));
    }
  };
  window.addEventListener('resize', () => {
    for (const [key, plot] of plots) {
      const el = document.querySelector(`.plot[data-chart="${key}"]`);
      if (el) plot.setSize({ width: Math.max(200, el.clientWidth), height: 160 });
    }
  });

  // --- live stream ---
  const notice = (text) => {
    const p = document.createElement('p');
    p.className = 'flash flash-error';
    p.textContent = text;
    document.querySelector('main')?.prepend(p);
  };
  const liveUrl = document.body.getAttribute('data-live');
  if (liveUrl) {
    const es = new EventSource(liveUrl);
    es.addEventListener('open', () => dot?.classList.add('on'));
    es.addEventListener('error', () => dot?.classList.remove('on'));
    es.addEventListener('fragment', (e) => {
      const { id, html } = JSON.parse(e.data);
      const el = document.getElementById(id);
      if (el) el.innerHTML = html;
      if (id === 'functions-rows') filter();
    });
    es.addEventListener('series', (e) => drawCharts(JSON.parse(e.data)));
    for (const kind of ['gone', 'failed']) {
      es.addEventListener(kind, (e) => {
        es.close();
        dot?.classList.remove('on');
        notice(e.data);
      });
    }
  }

  // --- a running build's log, from the builds API's own event stream ---
  const log = document.getElementById('build-log');
  const follow = log?.getAttribute('data-follow');
  // A deploy from the console comes here with ?then=NAME: once the build succeeded (by then its rollout
  // is done and the version serves) the page moves on to the function.
  const then = new URLSearchParams(window.location.search).get('then');
  const land = (status) => {
    if (then && status === 'succeeded') window.location.assign(`/ui/functions/${encodeURIComponent(then)}`);
  };
  if (log && !follow && document.querySelector('#build-head .badge-succeeded')) land('succeeded');
  if (log && follow) {
    const es = new EventSource(follow);
    let started = false;
    es.addEventListener('log', (e) => {
      if (!started) log.textContent = '';
      started = true;
      log.textContent += e.data.endsWith('\n') ? e.data : `${e.data}\n`;
      log.scrollTop = log.scrollHeight;
    });
    es.addEventListener('end', (e) => {
      es.close();
      log.classList.add('ended');
      let status = null;
      try {
        status = JSON.parse(e.data).status;
      } catch {
        // an end without a status: stay on the build
      }
      land(status);
    });
  }

  // --- the invoke form: posted with fetch, its result shown in place ---
  const invoke = document.getElementById('invoke-form');
  const out = document.getElementById('invoke-result');
  invoke?.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = invoke.querySelector('button');
    button.disabled = true;
    out.textContent = 'Invoking…';
    try {
      const res = await fetch(invoke.action, {
        method: 'POST',
        headers: { accept: 'application/json', 'x-csrf-token': csrf, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(invoke)),
      });
      const body = await res.json();
      out.textContent = '';
      const head = document.createElement('p');
      if (!res.ok) {
        head.textContent = `${res.status} ${body.code ?? ''}: ${body.detail ?? 'refused'}`;
        out.append(head);
        return;
      }
      head.textContent = `${body.status} `;
      const a = document.createElement('a');
      a.href = body.links.page;
      a.textContent = `invocation ${body.id.slice(0, 8)} and its logs`;
      head.append(a);
      out.append(head);
      if (body.result || body.error) {
        const pre = document.createElement('pre');
        pre.className = 'result';
        pre.textContent = body.result ? body.result.body : `${body.error.code}: ${body.error.message}`;
        out.append(pre);
      }
    } catch (err) {
      out.textContent = `The invocation could not be sent: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
})();
