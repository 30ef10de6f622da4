/** A fuzz case as it goes on the wire, and as a curl line that sends it again. */
import type { Cred, FuzzCase } from './cases.js';
import type { WireRequest } from './http.js';

/** Percent-encodes the UTF-8 bytes of a string; a lone surrogate as its 3-byte (WTF-8) form. */
export function percentEncode(value: string, keep = /[A-Za-z0-9\-._~]/): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const ch = value[i] as string;
    if (code < 0x80 && keep.test(ch)) {
      out += ch;
      continue;
    }
    let bytes: number[];
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const low = value.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes = [...Buffer.from(value.slice(i, i + 2), 'utf8')];
        i++;
      } else bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
    } else if (code >= 0xd800 && code <= 0xdfff) {
      bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
    } else bytes = [...Buffer.from(ch, 'utf8')];
    out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/** The request as it goes on the wire, with the case's credential. */
export function render(c: FuzzCase, cred: Cred | 'hostile', tokens: Record<Cred, string | undefined>): WireRequest {
  const d = c.draft;
  let path = c.op.path;
  for (const [name, value] of Object.entries(d.params)) {
    const written = d.rawParams.has(name)
      ? value
      : percentEncode(value, name === '*' ? /[A-Za-z0-9\-._~/]/ : undefined);
    path = path.replace(`{${name}}`, written);
  }
  if (d.query.length > 0) {
    path += `?${d.query.map(([k, v], i) => (d.rawQuery.has(i) ? `${k}=${v}` : `${percentEncode(k)}=${percentEncode(v)}`)).join('&')}`;
  }
  const headers: Record<string, string | string[]> = { ...d.headers };
  const token = cred === 'hostile' ? undefined : tokens[cred];
  if (d.authorization !== undefined) {
    if (d.authorization !== null) headers.authorization = d.authorization;
  } else if (token) headers.authorization = `Bearer ${token}`;
  let body = d.bytes;
  if (d.json !== undefined && body === undefined) {
    const text = JSON.stringify(d.json);
    if (d.splice.length === 0) body = Buffer.from(text);
    else {
      let parts: (string | Buffer)[] = [text];
      for (const [marker, raw] of d.splice) {
        parts = parts.flatMap((part) => {
          if (typeof part !== 'string' || !part.includes(marker)) return [part];
          const [before, ...after] = part.split(marker);
          return [before ?? '', raw, after.join(marker)];
        });
      }
      body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    }
  }
  return { method: d.method ?? c.op.method, path, headers, body };
}

/** A curl line that sends the same request (credentials named, not printed; long parts cut). */
export function reproduction(base: URL, req: WireRequest, cred: string): string {
  const cut = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  const quote = (s: string) => `$'${cut(JSON.stringify(s).slice(1, -1).replaceAll("'", "\\'"))}'`;
  const parts = [`curl -X ${req.method} --path-as-is ${quote(`${base.origin}${req.path}`)}`];
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (name === 'authorization' && cred !== 'hostile')
        parts.push(`-H "authorization: Bearer $${cred.toUpperCase()}_TOKEN"`);
      else parts.push(`-H ${quote(`${name}: ${v}`)}`);
    }
  }
  if (req.body !== undefined) {
    const text = req.body.toString('utf8');
    const printable = Buffer.from(text, 'utf8').equals(req.body);
    parts.push(printable ? `--data-binary ${quote(text)}` : `--data-binary <hex ${cut(req.body.toString('hex'))}>`);
  }
  return parts.join(' ');
}
