/**
 * Builds registered by URL are fetched by the server, with an org's credentials but the
 * server's network position. Unless allowed, a URL whose host is or resolves to a
 * loopback, private, link-local or otherwise internal address is refused. The check runs
 * inside the connection's own DNS lookup (node:http's `lookup` option), so the address
 * checked is the address connected to — a name that answers a public address first and an
 * internal one next (DNS rebinding) gains nothing — and again at every redirect hop.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  internal.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 96], // the unspecified address and IPv4-compatible ones
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64: reaches IPv4 addresses
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  internal.addSubnet(net, bits, 'ipv6');
}

export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return internal.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6 && /^::ffff:/i.test(address)) {
    // ::ffff:7f00:1 and the like: the IPv4 address in hex.
    const [hi, lo] = address
      .slice(7)
      .split(':')
      .map((h) => Number.parseInt(h, 16));
    if (hi !== undefined && lo !== undefined) {
      return internal.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
    }
  }
  return internal.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class InternalAddressError extends Error {
  readonly code = 'EINTERNAL';
}

/** A DNS lookup that fails for names resolving to any internal address. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    const list = addresses as unknown as LookupAddress[];
    const bad = list.find((a) => isInternalAddress(a.address));
    const first = list[0];
    if (bad || !first) {
      const what = bad ? `${bad.address}, an internal address` : 'no address';
      callback(new InternalAddressError(`${hostname} resolves to ${what}`), '', 0);
      return;
    }
    if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    else callback(null, first.address, first.family);
  });
};

/**
 * GET `url` (no redirects followed) and resolve with the response once its headers are
 * in. `allowInternal` false: internal addresses are refused, literal or resolved.
 */
export function guardedGet(
  url: URL,
  options: { signal: AbortSignal; allowInternal: boolean },
): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowInternal && isIP(host) && isInternalAddress(host)) {
    return Promise.reject(new InternalAddressError(`${url.host} is ${host}, an internal address`));
  }
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const request = get(url, { signal: options.signal, lookup: options.allowInternal ? undefined : guardedLookup });
    request.once('response', resolve);
    request.once('error', reject);
  });
}
