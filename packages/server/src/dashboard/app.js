// The qgjob dashboard: plain JavaScript, no framework, nothing fetched but this server.
//
// Start: GET /v1/overview without a token. 200: the server is open, no token field.
// 401: the token field shows; a token kept in sessionStorage is tried first.
// Then the page follows GET /v1/events (Server-Sent Events read with fetch, so the token
// goes in the Authorization header, never in a URL) and redraws on every `overview` event.
// A stream that ends or stays silent past the heartbeat is opened again, with backoff.
// Everything from the server is written with textContent: no HTML is built from data.

import { $, ago, clock, duration, el, plural, setConn, TOKEN_KEY } from './dom.js';
import { installPanel, openFiles, openLog, runActions } from './panel.js';
import { installViews } from './views.js';

/** The server sends a comment at least every 15 s; silence past this means a dead stream. */
const SILENCE_MS = 35_000;

const state = { token: sessionStorage.getItem(TOKEN_KEY) ?? '', stream: null, runs: new Map() };

function authHeaders() {
  return state.token ? { authorization: `Bearer ${state.token}` } : {};
}

// ---- rendering ------------------------------------------------------------------------

function renderTotals(o) {
  for (const [key, n] of Object.entries(o.totals)) {
    const tile = $(`total-${key}`);
    if (tile) tile.querySelector('.n').textContent = String(n);
  }
  $('installs-made').querySelector('.n').textContent = String(o.installs.made);
  const all = o.installs.made + o.installs.avoided;
  const avoided = $('installs-avoided');
  avoided.querySelector('.n').textContent = String(o.installs.avoided);
  avoided.querySelector('.pct').textContent = all > 0 ? `${Math.round((100 * o.installs.avoided) / all)}%` : '';
}

function renderQueues(queues) {
  const max = Math.max(1, ...queues.map((g) => g.queued));
  const rows = queues.map((g) =>
    el(
      'tr',
      { 'data-group': `${g.org_id}/${g.app_version_id}/${g.target}` },
      el('td', { text: g.org_id }),
      el('td', { text: g.app_version_id }),
      el('td', { text: g.target }),
      el('td', { className: 'num depth', text: g.queued }),
      el('td', null, el('meter', { min: 0, max, value: g.queued })),
      el('td', { className: 'num', text: duration(g.oldest_wait_ms) }),
    ),
  );
  $('queues').tBodies[0].replaceChildren(...rows);
  $('queues').hidden = queues.length === 0;
  $('queues-empty').hidden = queues.length > 0;
  const total = queues.reduce((n, g) => n + g.queued, 0);
  $('queue-sum').textContent = queues.length > 0 ? `${plural(total, 'job')} in ${plural(queues.length, 'group')}` : '';
}

/** Device states (DEVICE_STATES of @qgjob/protocol, which this page does not load), as the summary lists them. */
const DEVICE_STATES = ['busy', 'idle', 'offline', 'quarantined', 'draining', 'drained'];
const STATE_TITLES = {
  busy: 'Holding a batch',
  idle: 'Its agent is waiting for work for it',
  offline: 'Not heard from (its agent is gone, or resting after a failed batch)',
  quarantined: 'Too many infrastructure failures in a row: no work until the cool-down ends, then one probe job',
  draining: 'Drained by an operator: finishing the test it runs, then takes no work',
  drained: 'Takes no work until enabled (qgjob enable)',
};

/** The State cell: a badge per state, then until when a quarantine lasts and the failures in a row. */
function deviceState(d) {
  const notes = [];
  const until = d.quarantined_until ? Date.parse(d.quarantined_until) : Number.NaN;
  if (until > Date.now())
    notes.push(
      d.state === 'quarantined'
        ? `until ${clock(d.quarantined_until)}`
        : `quarantined until ${clock(d.quarantined_until)}`,
    );
  else if (until <= Date.now() && d.state !== 'quarantined') notes.push('probation');
  if (d.infra_failures > 0) notes.push(plural(d.infra_failures, 'failure'));
  return el(
    'td',
    { className: 'state' },
    el('span', { className: `badge s-${d.state}`, text: d.state, title: STATE_TITLES[d.state] }),
    notes.length > 0
      ? el('span', {
          className: until > Date.now() ? 'dev-note bad' : 'dev-note',
          text: notes.join(', '),
          title: d.quarantined_until ? `cool-down ends ${d.quarantined_until}` : 'infrastructure failures in a row',
        })
      : null,
  );
}

function renderAgents(agents) {
  const counts = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0]));
  let n = 0;
  const cards = agents.map((a) => {
    const rows = a.devices.map((d) => {
      counts[d.state] = (counts[d.state] ?? 0) + 1;
      n += 1;
      const current = d.org_id ? `${d.org_id}/${d.app_version_id}` : null;
      const holding = d.state === 'busy' || d.state === 'draining';
      const warm = d.warm.map((w) => {
        const name = `${w.org_id}/${w.app_version_id}`;
        return el('span', { className: name === current ? 'chip current' : 'chip', text: name });
      });
      return el(
        'tr',
        { 'data-device': d.name, 'data-state': d.state },
        el('td', { text: d.name }),
        el('td', { text: d.target }),
        deviceState(d),
        el('td', { className: 'batch', text: current ?? (holding ? 'another org' : '—') }),
        el('td', null, ...(warm.length > 0 ? warm : ['—'])),
      );
    });
    const table = el(
      'table',
      null,
      el(
        'thead',
        null,
        el(
          'tr',
          null,
          ...['Device', 'Target', 'State', 'Working on', 'Builds installed'].map((h) => el('th', { text: h })),
        ),
      ),
      el('tbody', null, ...rows),
    );
    return el(
      'div',
      { className: 'agent', 'data-agent': a.name },
      el(
        'div',
        null,
        el('strong', { text: a.name }),
        el('span', { className: 'seen', text: `seen ${ago(a.last_seen_at)}` }),
      ),
      table,
    );
  });
  $('agents').replaceChildren(...cards);
  $('agents-empty').hidden = agents.length > 0;
  // busy, idle and offline always; the states an operator or the health check put a device in when any is.
  const parts = Object.entries(counts)
    .filter(([s, count]) => count > 0 || s === 'busy' || s === 'idle' || s === 'offline')
    .map(([s, count]) => `${count} ${s}`);
  $('device-sum').textContent = n > 0 ? `${plural(n, 'device')}: ${parts.join(', ')}` : '';
}

function renderRuns(runs) {
  state.runs = new Map(runs.map((r) => [r.run_id, r]));
  const rows = runs.map((r) => {
    const took =
      r.duration_ms ?? (r.status === 'running' && r.started_at ? Date.now() - Date.parse(r.started_at) : null);
    return el(
      'tr',
      { 'data-status': r.status, 'data-run': r.run_id },
      el('td', null, el('span', { className: `badge s-${r.status}`, text: r.status })),
      el('td', { className: 'test', text: r.n > 1 ? `${r.test_path} (run ${r.n})` : r.test_path }),
      el('td', { text: `${r.org_id} / ${r.app_version_id}` }),
      el('td', { text: r.target }),
      el('td', { text: r.device ?? '', title: r.agent ?? '' }),
      el('td', { className: 'num', text: took === null ? '' : duration(Math.max(0, Math.round(took))) }),
      el('td', { text: r.app_installed ? 'installed' : '' }),
      el('td', { text: clock(r.started_at) }),
      el('td', { className: 'err', text: r.error ?? '', title: r.error ?? '' }),
      el('td', { className: 'actions' }, ...runActions(r.run_id, r.artifact_count)),
    );
  });
  $('runs').tBodies[0].replaceChildren(...rows);
  $('runs').hidden = runs.length === 0;
  $('runs-empty').hidden = runs.length > 0;
}

function render(o) {
  renderTotals(o);
  renderQueues(o.queues);
  renderAgents(o.agents);
  renderRuns(o.recent_runs);
  document.body.dataset.updated = String(Date.now());
  views.live(true);
}

// ---- the event stream -----------------------------------------------------------------

function parseBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n') };
}

async function follow(signal) {
  let backoff = 1000;
  while (!signal.aborted) {
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort();
    signal.addEventListener('abort', abortAttempt, { once: true });
    let watchdog = setTimeout(abortAttempt, SILENCE_MS);
    try {
      const res = await fetch('/v1/events', {
        headers: { ...authHeaders(), accept: 'text/event-stream' },
        cache: 'no-store',
        signal: attempt.signal,
      });
      if (res.status === 401 || res.status === 403) {
        needToken(res.status === 401 ? 'The token was refused.' : 'This token cannot watch the farm.');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConn('live', 'live');
      backoff = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(abortAttempt, SILENCE_MS);
        buffer += value.replace(/\r\n?/g, '\n');
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const { event, data } = parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event === 'overview' && data) render(JSON.parse(data));
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Dropped, silent or refused: try again below.
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', abortAttempt);
    }
    if (signal.aborted) return;
    setConn(`reconnecting in ${Math.round(backoff / 1000)} s`, 'down');
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10_000);
  }
}

function watch() {
  state.stream?.abort();
  state.stream = new AbortController();
  setConn('connecting…', 'connecting');
  follow(state.stream.signal);
}

// ---- token ----------------------------------------------------------------------------

function needToken(message) {
  state.stream?.abort();
  views.live(false);
  $('auth').hidden = false;
  $('auth-msg').textContent = message;
  setConn('needs a token', 'down');
  $('token').focus();
}

async function probe(token) {
  const res = await fetch('/v1/overview', {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  return { status: res.status, overview: res.ok ? await res.json() : null };
}

async function start() {
  let first;
  try {
    first = await probe('');
  } catch {
    setConn('server unreachable', 'down');
    setTimeout(start, 3000);
    return;
  }
  if (first.status === 200) {
    // Open mode: there is no token to ask for.
    state.token = '';
    render(first.overview);
    watch();
    return;
  }
  $('auth').hidden = false;
  if (first.status !== 401) {
    setConn(`HTTP ${first.status}`, 'down');
    return;
  }
  if (state.token) await useToken(state.token);
  else needToken('This server needs an admin or org token.');
}

async function useToken(token) {
  const tried = await probe(token).catch(() => ({ status: 0, overview: null }));
  if (tried.status !== 200) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    needToken(
      tried.status === 403 ? 'This token cannot watch the farm (agent token?).' : `Token refused (${tried.status}).`,
    );
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('auth-msg').textContent = 'Token in use (this tab only).';
  render(tried.overview);
  watch();
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (token) useToken(token);
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  needToken('Token forgotten.');
});

$('runs').addEventListener('click', (e) => {
  const button = e.target.closest('button.log, button.files');
  const run = button && state.runs.get(button.dataset.run);
  if (!run) return;
  if (button.classList.contains('files')) openFiles(run);
  else openLog(run);
});

installPanel({ headers: authHeaders, hasToken: () => state.token !== '' });
const views = installViews({ headers: authHeaders });

start();
