// The timeline and the trends on the farm page: read from their endpoints when the farm
// moves (each overview the stream brings, at most once a second for the timeline), every
// 5 s regardless (bars grow with time), and at once when the window changes.

import { installTips, renderTimeline } from './timeline.js';
import { renderTrends } from './trends.js';

const TIMELINE_EVERY_MS = 1_000;
const TRENDS_EVERY_MS = 30_000;

export function installViews({ headers }) {
  const views = { window: '1h', timelineAt: 0, trendsAt: 0, busy: false, again: false, live: false };

  async function getJson(path) {
    const res = await fetch(path, { headers: headers(), cache: 'no-store' });
    return res.ok ? res.json() : null;
  }

  async function refresh(force) {
    if (!views.live) return;
    if (views.busy) {
      // Asked for at once (the window changed) while a read runs: drawn right after it.
      views.again ||= force;
      return;
    }
    const now = Date.now();
    const timeline = force || now - views.timelineAt >= TIMELINE_EVERY_MS;
    const trends = force || now - views.trendsAt >= TRENDS_EVERY_MS;
    if (!timeline && !trends) return;
    views.busy = true;
    try {
      if (timeline) {
        views.timelineAt = now;
        const t = await getJson(`/v1/timeline?window=${views.window}`);
        if (t) renderTimeline(t);
      }
      if (trends) {
        views.trendsAt = now;
        const t = await getJson('/v1/trends?window=24h');
        if (t) renderTrends(t);
      }
    } catch {
      // Drawn again at the next tick.
    } finally {
      views.busy = false;
    }
    if (views.again) {
      views.again = false;
      refresh(true);
    }
  }

  const buttons = [...document.querySelectorAll('.windows button')];
  for (const button of buttons) {
    button.addEventListener('click', () => {
      views.window = button.dataset.window;
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === button));
      refresh(true);
    });
  }
  setInterval(() => refresh(false), 5_000);
  installTips(document.querySelector('main'));

  return {
    /** The page shows the farm (true) or waits for a token (false). */
    live(on) {
      const was = views.live;
      views.live = on;
      if (on) refresh(!was);
    },
  };
}
