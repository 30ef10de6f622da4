// Trends: the farm per target over the window, from GET /v1/trends (samples the server keeps
// in SQL, one a minute for 24 hours). Four small charts per target: queue depth, oldest
// wait, installs made against installs avoided, and device utilisation (busy of those heard
// from). Plain SVG built here; nothing is fetched but the samples.

import { $, duration, el } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 240;
const H = 56;

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A polyline per series over the samples' times; each series { values, className }. */
function chart(times, series, label, max) {
  const t0 = times[0] ?? 0;
  const span = Math.max(1, (times.at(-1) ?? 0) - t0);
  const top = Math.max(1, max ?? Math.max(...series.flatMap((s) => s.values)));
  const box = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  box.append(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'base' }));
  for (const s of series) {
    const points = s.values.map((v, i) => {
      const x = times.length === 1 ? W / 2 : (((times[i] ?? t0) - t0) / span) * W;
      return `${x.toFixed(1)},${(H - 2 - (v / top) * (H - 6)).toFixed(1)}`;
    });
    box.append(
      svg('polyline', { points: points.join(' '), class: s.className, 'vector-effect': 'non-scaling-stroke' }),
    );
  }
  return box;
}

function card(title, now, box, legend) {
  return el(
    'figure',
    { className: 'trend' },
    el('figcaption', null, el('span', { text: title }), el('strong', { text: now })),
    box,
    legend ? el('small', { className: 'legend', text: legend }) : null,
  );
}

function targetRow(t) {
  const s = t.samples;
  const times = s.map((x) => Date.parse(x.at));
  const last = s.at(-1);
  const made = s.reduce((n, x) => n + x.installs_made, 0);
  const avoided = s.reduce((n, x) => n + x.installs_avoided, 0);
  const util = s.map((x) => (x.devices > 0 ? (100 * x.busy) / x.devices : 0));
  return el(
    'div',
    { className: 'trend-row', 'data-target': t.target },
    el('h3', { text: t.target }),
    card(
      'Queue depth',
      String(last?.queued ?? 0),
      chart(times, [{ values: s.map((x) => x.queued), className: 'q' }], `queue depth of ${t.target}`),
    ),
    card(
      'Oldest wait',
      duration(last?.oldest_wait_ms ?? 0),
      chart(times, [{ values: s.map((x) => x.oldest_wait_ms), className: 'w' }], `oldest wait on ${t.target}`),
    ),
    card(
      'Installs made / avoided',
      `${made} / ${avoided}`,
      chart(
        times,
        [
          { values: s.map((x) => x.installs_made), className: 'made' },
          { values: s.map((x) => x.installs_avoided), className: 'avoided' },
        ],
        `installs made and avoided on ${t.target}`,
      ),
      'made — avoided',
    ),
    card(
      'Device utilisation',
      `${Math.round(util.at(-1) ?? 0)}%`,
      chart(times, [{ values: util, className: 'u' }], `device utilisation of ${t.target}`, 100),
      last ? `${last.busy} of ${last.devices} busy` : '',
    ),
  );
}

export function renderTrends(trends) {
  // A target that never had a device nor a queued job has nothing to show.
  const shown = trends.targets.filter((t) => t.samples.some((x) => x.devices > 0 || x.queued > 0));
  $('trends').replaceChildren(...shown.map(targetRow));
  $('trends-empty').hidden = shown.length > 0;
  $('trends').dataset.updated = String(Date.now());
}
