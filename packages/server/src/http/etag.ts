/** HTTP validators for documents: a content ETag and If-None-Match matching. */
import { createHash } from 'node:crypto';

/** A weak validator: the same document gives the same tag on every job-server. */
export function etagOf(doc: unknown): string {
  return `W/"${createHash('sha256').update(JSON.stringify(doc)).digest('base64url').slice(0, 27)}"`;
}

/** Whether an If-None-Match header names this tag (weak comparison, RFC 9110 13.1.2). */
export function matchesTag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === wanted);
}
