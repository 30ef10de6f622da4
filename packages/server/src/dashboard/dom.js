// Small helpers of the dashboard's pages: elements built with textContent only, and times,
// durations and sizes as people read them.

export const $ = (id) => document.getElementById(id);

/** Where the pages of one tab keep the token entered (sessionStorage: gone with the tab). */
export const TOKEN_KEY = 'qgjob.dashboard.token';

/** The connection badge in the header: its text and state (live, connecting, down). */
export function setConn(text, kind) {
  const c = $('conn');
  c.textContent = text;
  c.dataset.state = kind;
}

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'className') node.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'title' || k === 'type' || k === 'role')
        node.setAttribute(k, v);
      else node[k] = v;
    }
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

/** Bytes as `qgjob` prints them (formatSize of @qgjob/protocol, which this page does not load). */
export function size(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  for (let n = bytes; n >= 1024 && unit < units.length - 1; n /= 1024) unit++;
  return unit === 0 ? `${bytes} B` : `${(bytes / 1024 ** unit).toFixed(1)} ${units[unit]}`;
}

export function ago(iso) {
  if (!iso) return '';
  return `${duration(Math.max(0, Date.now() - Date.parse(iso))).replace(/\.\d s$/, ' s')} ago`;
}

export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '';
}
