/**
 * The CLI's version. The bundle (build.mjs) has it inlined as QGJOB_VERSION; run from the
 * sources, it is read from package.json (one level above src/).
 */
import { readFileSync } from 'node:fs';

declare const QGJOB_VERSION: string | undefined;

function readVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION = typeof QGJOB_VERSION === 'string' ? QGJOB_VERSION : readVersion();
