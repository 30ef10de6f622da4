// A submission's page (/submissions/{id}): its tests with their runs, the runs as a timeline
// per device, failures first with their message, where they failed, their log and files.
// Read from GET /v1/submissions/{id}/runs, again every 2 s until every job has ended. A token
// kept by the farm page in this tab (sessionStorage) is used; without one the page asks.

import { $, clock, duration, el, plural, setConn, TOKEN_KEY } from './dom.js';
import { installPanel, openFiles, openLog, runActions } from './panel.js';
import { installTips } from './timeline.js';

const FINAL = new Set(['passed', 'failed', 'errored', 'cancelled']);
const id = decodeURIComponent(location.pathname.split('/').filter(Boolean).at(-1) ?? '');
const state = { token: sessionStorage.getItem(TOKEN_KEY) ?? '', runs: new Map(), timer: null };

const headers = () => (state.token ? { authorization: `Bearer ${state.token}` } : {});
const at = (iso) => (iso ? Date.parse(iso) : Number.NaN);

function runRef(job, run) {
  const ref = { ...run, job_id: job.id, test_path: job.test_path, run_id: `${job.id}/${run.n}` };
  state.runs.set(ref.run_id, ref);
  return ref;
}

function actions(ref) {
  return el('span', { className: 'actions' }, ...runActions(ref.run_id, ref.artifact_count));
}

function renderHead(s) {
  $('sub-title').textContent = `Submission ${s.id}`;
  $('sub-meta').textContent = `${s.org_id} · created ${clock(s.created_at)} · ${plural(s.jobs.length, 'test')}`;
  document.title = `qgjob · ${s.id}`;
  const counts = {};
  for (const j of s.jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
  const kinds = { passed: 'ok', failed: 'bad', errored: 'warn', cancelled: 'dim' };
  $('sub-totals').replaceChildren(
    ...Object.entries(counts).map(([status, n]) =>
      el(
        'div',
        { className: `tile ${kinds[status] ?? ''}`, 'data-status': status },
        el('span', { className: 'n', text: n }),
        el('span', { className: 'k', text: status }),
      ),
    ),
  );
}

function renderTimeline(s) {
  const all = s.jobs.flatMap((j) => j.runs.map((r) => ({ job: j, run: r }))).filter((x) => x.run.started_at);
  const from = Math.min(...all.map((x) => at(x.run.started_at)));
  const to = Math.max(...all.map((x) => (x.run.finished_at ? at(x.run.finished_at) : Date.now())));
  const span = Math.max(1, to - from);
  const pct = (t) => ((t - from) / span) * 100;
  const lanes = new Map();
  for (const x of all) {
    const key = `${x.run.agent ?? ''}/${x.run.device ?? ''}`;
    if (!lanes.has(key)) lanes.set(key, { device: x.run.device ?? '?', agent: x.run.agent ?? '', items: [] });
    lanes.get(key).items.push(x);
  }
  const rows = [...lanes.values()].map((lane) => {
    const bars = lane.items.map(({ job, run }) => {
      const start = at(run.started_at);
      const end = run.finished_at ? at(run.finished_at) : Date.now();
      const bar = el('span', {
        className: 'run',
        tabIndex: 0,
        'data-status': run.status,
        'data-installed': String(run.app_installed),
        'data-tip': `${job.test_path}${run.n > 1 ? ` (run ${run.n})` : ''}: ${run.status}\ntook ${duration(Math.max(0, end - start))}${run.app_installed ? '\ninstalled the app first' : ''}`,
        'aria-label': `${job.test_path} ${run.status}`,
      });
      bar.style.left = `${pct(start)}%`;
      bar.style.width = `${Math.max(0.4, pct(end) - pct(start))}%`;
      return bar;
    });
    return el(
      'div',
      { className: 'lane', 'data-device': lane.device },
      el('div', { className: 'who' }, el('strong', { text: lane.device }), el('small', { text: lane.agent })),
      el('div', { className: 'track' }, ...bars),
    );
  });
  $('timeline').replaceChildren(...rows);
  $('timeline-empty').hidden = rows.length > 0;
  $('sub-span').textContent = all.length > 0 ? `from ${clock(new Date(from).toISOString())}, ${duration(span)}` : '';
}

function renderFailures(s) {
  const failed = s.jobs.filter((j) => j.status === 'failed' || j.status === 'errored');
  $('failures').replaceChildren(
    ...failed.map((j) => {
      const last = j.runs.at(-1);
      const ref = last ? runRef(j, last) : null;
      return el(
        'article',
        { className: 'failure', 'data-status': j.status, 'data-job': j.id },
        el(
          'div',
          null,
          el('span', { className: `badge s-${j.status}`, text: j.status }),
          ' ',
          el('strong', { text: j.test_path }),
          ' ',
          el('small', { text: `${j.app_version_id} · ${j.target} · ${plural(j.runs.length, 'run')}` }),
        ),
        el('pre', { className: 'message', text: last?.error ?? 'no message' }),
        last?.location ? el('div', { className: 'where', text: `at ${last.location}` }) : null,
        last ? el('div', { className: 'where', text: `on ${last.device ?? '?'} (${last.agent ?? '?'})` }) : null,
        ref ? actions(ref) : null,
      );
    }),
  );
  $('failures-empty').hidden = failed.length > 0;
}

function renderTests(s) {
  const rows = s.jobs.map((j) => {
    const last = j.runs.at(-1);
    const ref = last ? runRef(j, last) : null;
    return el(
      'tr',
      { 'data-job': j.id, 'data-status': j.status },
      el(
        'td',
        null,
        el('span', { className: `badge s-${j.status}`, text: j.flaky ? `${j.status} (flaky)` : j.status }),
      ),
      el('td', { className: 'test', text: j.test_path }),
      el('td', { text: `${j.app_version_id} / ${j.target}` }),
      el('td', { className: 'num', text: j.runs.length }),
      el('td', { text: last?.device ?? '', title: last?.agent ?? '' }),
      el('td', { className: 'num', text: duration(last?.duration_ms) }),
      el('td', { text: last?.app_installed ? 'installed' : '' }),
      el('td', { text: clock(last?.started_at) }),
      el('td', { className: 'actions' }, ref ? actions(ref) : null),
    );
  });
  $('tests').tBodies[0].replaceChildren(...rows);
}

async function load() {
  clearTimeout(state.timer);
  const res = await fetch(`/v1/submissions/${encodeURIComponent(id)}/runs`, { headers: headers(), cache: 'no-store' });
  if (res.status === 401 || res.status === 403) {
    $('auth').hidden = false;
    $('auth-msg').textContent =
      res.status === 401 ? 'This server needs an admin or org token.' : 'This token cannot read it.';
    setConn('needs a token', 'down');
    return;
  }
  if (!res.ok && res.status < 500 && res.status !== 429) {
    setConn(res.status === 404 ? 'no such submission' : `HTTP ${res.status}`, 'down');
    return;
  }
  if (!res.ok) {
    // Too many reads (429) or a server in trouble: asked again shortly.
    setConn(`HTTP ${res.status}, trying again`, 'down');
    state.timer = setTimeout(() => load().catch(retry), 3_000);
    return;
  }
  const s = await res.json();
  state.runs = new Map();
  renderHead(s);
  renderTimeline(s);
  renderFailures(s);
  renderTests(s);
  const done = s.jobs.every((j) => FINAL.has(j.status));
  setConn(done ? 'finished' : 'live', done ? 'live' : 'connecting');
  document.body.dataset.updated = String(Date.now());
  if (!done) state.timer = setTimeout(() => load().catch(retry), 2_000);
}

function retry() {
  setConn('server unreachable', 'down');
  state.timer = setTimeout(() => load().catch(retry), 3_000);
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('token').value = '';
  $('auth').hidden = true;
  load().catch(retry);
});
document.querySelector('main').addEventListener('click', (e) => {
  const button = e.target.closest('button.log, button.files');
  const run = button && state.runs.get(button.dataset.run);
  if (!run) return;
  if (button.classList.contains('files')) openFiles(run);
  else openLog(run);
});
installPanel({ headers, hasToken: () => state.token !== '' });
installTips(document.querySelector('main'));
load().catch(retry);
