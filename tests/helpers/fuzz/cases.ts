/**
 * What a fuzz case is: the credentials it may carry, the fixtures a test gives, and the
 * request before it is written out (the draft every mutation changes one thing of).
 */
import type { Operation } from './openapi.js';

export type Cred = 'none' | 'org' | 'agent' | 'admin';
export const CREDS: readonly Cred[] = ['none', 'org', 'agent', 'admin'];

/** Valid values the test knows (seeded ids, a body that passes the cross-field rules). */
export interface Fixtures {
  /** A path parameter's value, unescaped. */
  param(op: Operation, name: string): string | undefined;
  /** Query parameters the base request carries (besides the required ones, derived). */
  query(op: Operation): Record<string, string>;
  /** The base JSON body; undefined: derived from the schema. */
  body(op: Operation): unknown;
  /** A raw body for operations that take bytes rather than JSON (documented with no JSON body). */
  bytes(op: Operation): { contentType: string; data: Buffer } | undefined;
}

/** A request before it is written out: what the mutations change. */
export interface Draft {
  params: Record<string, string>;
  /** Unescaped values, unless `rawQuery` (then written as they are). */
  query: [string, string][];
  rawQuery: Set<number>;
  /** Escaped already (a mutation may put `%ff` or `..` here on purpose). */
  rawParams: Set<string>;
  headers: Record<string, string | string[]>;
  json?: unknown;
  /** The body bytes, when not JSON (or JSON that JSON.stringify cannot write). */
  bytes?: Buffer;
  /** Applied to the serialised JSON body: text swapped in for placeholder strings. */
  splice: [string, string | Buffer][];
  /** Replace the Authorization header (undefined: the case's credential). null: send none. */
  authorization?: string | string[] | null;
  /** Override the method (a method the path does not take). */
  method?: string;
}

export interface FuzzCase {
  op: Operation;
  /** Operation undefined for a method the path does not take. */
  documented: boolean;
  category: string;
  label: string;
  /**
   * `auto`: drawn when the case is sent (`resolveCred`), mostly among the credentials the
   * operation accepted for its valid request, so that most hostile inputs get past the
   * credential check to the validation and the handler behind it.
   */
  cred: Cred | 'hostile' | 'auto';
  /** The draw in [0, 1) that picks an `auto` credential. */
  draw: number;
  draft: Draft;
}

export type Mutation = { category: string; label: string; apply(d: Draft): void };
