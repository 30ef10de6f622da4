// The device timeline: one lane per device, time across. Each batch is a bar in its org's
// colour labelled with the app version; a hatched start marks the install; each run is a tick
// coloured by its outcome; a yield is a notch, a quarantine a red band. Drawn from
// GET /v1/timeline (not from this page's own bookkeeping), re-read while the farm moves.
// Every bar and tick carries its details for the hover/focus tip, and bars are reachable with
// the keyboard (Tab), each read out with its group, install and test counts.

import { $, clock, duration, el, plural } from './dom.js';

/** Eight hues far enough apart to tell orgs apart. */
const HUES = [210, 20, 140, 280, 45, 175, 330, 95];

/** A stable hue per org (FNV-1a of its id): the same org has the same colour on every page and lane. */
export function orgHue(orgId) {
  let h = 2166136261;
  for (const c of orgId) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return HUES[h % HUES.length];
}

const at = (iso) => (iso ? Date.parse(iso) : Number.NaN);

/** Positions on a track: percentages of the window, clamped to it. */
function scale(fromMs, toMs) {
  const span = Math.max(1, toMs - fromMs);
  return (t) => Math.min(100, Math.max(0, ((t - fromMs) / span) * 100));
}

function place(node, left, width) {
  node.style.left = `${left}%`;
  if (width !== undefined) node.style.width = `${Math.max(width, 0.25)}%`;
  return node;
}

function runTip(r) {
  const took = r.duration_ms ?? (r.started_at ? Date.now() - at(r.started_at) : null);
  return [
    `${r.test_path}${r.n > 1 ? ` (run ${r.n})` : ''}: ${r.status}`,
    `job ${r.job_id}`,
    took === null ? null : `took ${duration(Math.max(0, Math.round(took)))}`,
    r.started_at ? `started ${clock(r.started_at)}` : null,
  ]
    .filter(Boolean)
    .join('\n');
}

function batchTip(b, end) {
  const group = b.org_id ? `${b.org_id} / ${b.app_version_id}` : 'another org';
  const counts = {};
  for (const r of b.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const outcome = Object.entries(counts).map(([s, n]) => `${n} ${s}`);
  return [
    `${group}: ${plural(b.runs.length, 'test')}${outcome.length > 0 ? ` (${outcome.join(', ')})` : ''}`,
    b.install
      ? b.install_until
        ? `installed in ${duration(at(b.install_until) - at(b.started_at))}`
        : 'installing'
      : 'build already installed',
    `${clock(b.started_at)} – ${b.finished_at ? clock(b.finished_at) : 'now'} (${duration(Math.max(0, end - at(b.started_at)))})`,
    b.yielded_at ? `told to yield at ${clock(b.yielded_at)}` : null,
    b.state === 'expired' ? 'lease expired: its agent went quiet' : null,
    b.id ? `batch ${b.id}` : null,
  ]
    .filter(Boolean)
    .join('\n');
}

function batchBar(b, x, toMs) {
  const start = at(b.started_at);
  const end = b.finished_at ? at(b.finished_at) : toMs;
  const left = x(start);
  const width = x(end) - left;
  const bar = place(
    el('div', {
      className: b.org_id ? 'bar' : 'bar other',
      tabIndex: 0,
      'data-batch': b.id ?? '',
      'data-org': b.org_id ?? '',
      'data-install': String(b.install),
      'data-state': b.state,
      'data-tip': batchTip(b, end),
      'aria-label': `${b.org_id ? `${b.org_id} ${b.app_version_id}` : 'another org'}, ${b.install ? 'installed the app, ' : ''}${plural(b.runs.length, 'test')}`,
    }),
    left,
    width,
  );
  if (b.org_id) bar.style.setProperty('--hue', String(orgHue(b.org_id)));
  const span = Math.max(1, end - start);
  const within = (t) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
  if (b.install) {
    const installEnd = b.install_until ? at(b.install_until) : end;
    bar.append(place(el('span', { className: 'install', title: 'install' }), 0, within(installEnd)));
  }
  if (b.app_version_id) bar.append(el('span', { className: 'label', text: b.app_version_id }));
  for (const r of b.runs) {
    const t = r.finished_at ? at(r.finished_at) : r.started_at ? at(r.started_at) : start;
    bar.append(place(el('span', { className: 'tick', 'data-status': r.status, 'data-tip': runTip(r) }), within(t)));
  }
  return bar;
}

function laneMarks(lane, x) {
  const marks = [];
  for (const batch of lane.batches) {
    if (!batch.yielded_at) continue;
    marks.push(
      place(
        el('span', { className: 'mark yield', 'data-tip': `told to yield at ${clock(batch.yielded_at)}` }),
        x(at(batch.yielded_at)),
      ),
    );
  }
  for (const e of lane.events) {
    const start = x(at(e.at));
    if (e.kind === 'quarantined') {
      const until = e.until ? x(at(e.until)) : start;
      marks.push(
        place(
          el('span', {
            className: 'mark quarantine',
            'data-tip': `quarantined at ${clock(e.at)}${e.until ? ` until ${clock(e.until)}` : ''}`,
          }),
          start,
          until - start,
        ),
      );
    } else {
      marks.push(place(el('span', { className: 'mark healed', 'data-tip': `healthy again at ${clock(e.at)}` }), start));
    }
  }
  return marks;
}

function axis(fromMs, toMs) {
  const x = scale(fromMs, toMs);
  const ticks = [];
  for (let i = 0; i <= 4; i++) {
    const t = fromMs + ((toMs - fromMs) * i) / 4;
    ticks.push(place(el('span', { text: i === 4 ? 'now' : clock(new Date(t).toISOString()) }), x(t)));
  }
  return el(
    'div',
    { className: 'lane axis', 'aria-hidden': 'true' },
    el('div'),
    el('div', { className: 'track' }, ...ticks),
  );
}

/**
 * Where the axis starts: the window's start, or shortly before the first thing drawn when
 * that came later (a farm busy for the last two minutes fills the width, not 2% of it).
 */
function axisStart(t, toMs) {
  const times = t.lanes.flatMap((l) => [...l.batches.map((b) => at(b.started_at)), ...l.events.map((e) => at(e.at))]);
  const first = Math.min(...times);
  if (!Number.isFinite(first)) return at(t.from);
  return Math.max(at(t.from), first - 0.04 * (toMs - first));
}

export function renderTimeline(t) {
  const toMs = at(t.to);
  const fromMs = axisStart(t, toMs);
  const x = scale(fromMs, toMs);
  const lanes = t.lanes.map((lane) =>
    el(
      'div',
      { className: 'lane', 'data-device': lane.device, 'data-state': lane.state },
      el(
        'div',
        { className: 'who' },
        el('strong', { text: lane.device }),
        el('small', { text: `${lane.agent} · ${lane.target}` }),
      ),
      el('div', { className: 'track' }, ...lane.batches.map((b) => batchBar(b, x, toMs)), ...laneMarks(lane, x)),
    ),
  );
  const batches = t.lanes.reduce((n, l) => n + l.batches.length, 0);
  const installs = t.lanes.reduce((n, l) => n + l.batches.filter((b) => b.install).length, 0);
  $('timeline').replaceChildren(...(lanes.length > 0 ? [axis(fromMs, toMs), ...lanes] : []));
  $('timeline-empty').hidden = lanes.length > 0;
  $('timeline-sum').textContent =
    lanes.length > 0
      ? `${batches} ${batches === 1 ? 'batch' : 'batches'}, ${plural(installs, 'install')}${t.truncated ? ' (the oldest left out)' : ''}`
      : '';
  $('timeline').dataset.window = t.window;
  $('timeline').dataset.updated = String(Date.now());
}

/** One tip for the whole page: shown over whatever carries `data-tip` under the pointer or in focus. */
export function installTips(root) {
  const tip = $('tip');
  const show = (target) => {
    const holder = target?.closest?.('[data-tip]');
    if (!holder || !root.contains(holder)) {
      tip.hidden = true;
      return;
    }
    tip.textContent = holder.dataset.tip;
    tip.hidden = false;
    const box = holder.getBoundingClientRect();
    tip.style.left = `${Math.min(window.innerWidth - 320, Math.max(8, box.left))}px`;
    tip.style.top = `${box.bottom + window.scrollY + 6}px`;
  };
  root.addEventListener('mouseover', (e) => show(e.target));
  root.addEventListener('mouseleave', () => {
    tip.hidden = true;
  });
  root.addEventListener('focusin', (e) => show(e.target));
  root.addEventListener('focusout', () => {
    tip.hidden = true;
  });
}
