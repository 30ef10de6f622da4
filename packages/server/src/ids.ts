import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

/**
 * Time-ordered ids (ULID layout: 48-bit milliseconds, then 80 random bits), prefixed by
 * kind so a pasted id says what it is. Ordering by id is ordering by creation, which
 * cursor pagination relies on.
 */
export function newId(prefix: 'job' | 'sub' | 'run' | 'bat' | 'agt' | 'dev' | 'tok'): string {
  let time = Date.now();
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[time % 32] + out;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(10);
  let bits = 0;
  let value = 0;
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >> bits) & 31];
    }
  }
  return `${prefix}_${out}`;
}
