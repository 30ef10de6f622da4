// The side panel of the dashboard: a run's log, read page by page and followed while the run
// goes on, or the files the run left (test artifacts), each a link to its download. Behind a
// token a link is fetched with the token and handed to the browser to save: the token never
// goes in a URL.

import { $, el, plural, size } from './dom.js';

let current = null;
let headersOf = () => ({});
let tokenInUse = () => false;

// ---- the log panel --------------------------------------------------------------------

/** A run's buttons: its log, and its files when it left any (handled by installPanel). */
export function runActions(runId, artifactCount) {
  return [
    el('button', { type: 'button', className: 'log', text: 'log', 'data-run': runId }),
    artifactCount > 0
      ? el('button', { type: 'button', className: 'files', text: plural(artifactCount, 'file'), 'data-run': runId })
      : null,
  ];
}

export function closeLog() {
  current?.abort();
  current = null;
  $('log-panel').hidden = true;
}

export async function openLog(run) {
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  const body = $('log-body');
  $('log-title').textContent = `${run.test_path} · run ${run.n} · ${run.status}`;
  body.replaceChildren(el('span', { className: 'note', text: 'loading…' }));
  $('log-panel').hidden = false;
  $('log-panel').dataset.run = run.run_id;
  let after = null;
  let shown = 0;
  try {
    while (!ctl.signal.aborted) {
      const query = after === null || after === undefined ? '' : `?after=${encodeURIComponent(after)}`;
      const res = await fetch(`/v1/jobs/${encodeURIComponent(run.job_id)}/logs${query}`, {
        headers: headersOf(),
        cache: 'no-store',
        signal: ctl.signal,
      });
      if (res.status === 404) {
        if (shown === 0) body.replaceChildren(el('span', { className: 'note', text: 'no log' }));
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const page = await res.json();
      const chunks = Array.isArray(page.chunks) ? page.chunks.filter((c) => c.run === run.n) : [];
      if (shown === 0 && chunks.length > 0) body.replaceChildren();
      for (const c of chunks) body.append(el('span', { className: `st-${c.stream}`, text: c.text }));
      shown += chunks.length;
      const more = page.next_after !== undefined && page.next_after !== null && page.next_after !== after;
      if (more) after = page.next_after;
      if (page.done && !more) break;
      // Still being written: ask again shortly for what follows.
      if (!more || chunks.length === 0) await new Promise((r) => setTimeout(r, 1000));
    }
    if (shown === 0 && !ctl.signal.aborted) body.replaceChildren(el('span', { className: 'note', text: 'no log' }));
  } catch (error) {
    if (ctl.signal.aborted) return;
    body.append(el('span', { className: 'note', text: `\nlog unavailable: ${error.message}` }));
  }
}

// ---- the files a run left (test artifacts), in the same panel ------------------------

const encodeName = (name) => name.split('/').map(encodeURIComponent).join('/');

export async function openFiles(run) {
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  const body = $('log-body');
  $('log-title').textContent = `${run.test_path} · run ${run.n} · files`;
  body.replaceChildren(el('span', { className: 'note', text: 'loading…' }));
  $('log-panel').hidden = false;
  $('log-panel').dataset.run = run.run_id;
  try {
    const res = await fetch(`/v1/jobs/${encodeURIComponent(run.job_id)}/artifacts`, {
      headers: headersOf(),
      cache: 'no-store',
      signal: ctl.signal,
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const page = await res.json();
    const files = page.runs?.find((r) => r.n === run.n)?.artifacts ?? [];
    if (files.length === 0) {
      body.replaceChildren(el('span', { className: 'note', text: 'no files' }));
      return;
    }
    const base = `/v1/jobs/${encodeURIComponent(run.job_id)}/runs/${run.n}/artifacts/`;
    body.replaceChildren(
      ...files.map((f) =>
        el(
          'span',
          { className: 'file' },
          el('a', {
            className: 'artifact',
            href: base + encodeName(f.name),
            download: f.name.slice(f.name.lastIndexOf('/') + 1),
            text: f.name,
          }),
          el('span', { className: 'size', text: `  ${size(f.size)}` }),
          '\n',
        ),
      ),
    );
  } catch (error) {
    if (ctl.signal.aborted) return;
    body.replaceChildren(el('span', { className: 'note', text: `files unavailable: ${error.message}` }));
  }
}

/**
 * Behind a token a plain link would go without it (the token is never put in a URL): the
 * file is fetched with the token and handed to the browser to save.
 */
async function download(link) {
  const res = await fetch(link.href, { headers: headersOf(), cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const save = el('a', { href: url, download: link.download });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Wires the panel's own controls. `headers()`: what authenticates a request now;
 * `hasToken()`: whether a token is in use (without one, plain links work).
 */
export function installPanel({ headers, hasToken }) {
  headersOf = headers;
  tokenInUse = hasToken;
  $('log-body').addEventListener('click', (e) => {
    const link = e.target.closest('a.artifact');
    if (!link || !tokenInUse()) return;
    e.preventDefault();
    download(link).catch((error) => {
      link.after(el('span', { className: 'note', text: ` (download failed: ${error.message})` }));
    });
  });
  $('log-close').addEventListener('click', closeLog);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeLog();
  });
}
