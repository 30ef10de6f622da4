/** bench/lib.ts writeResults: the results file scripts/bench-tables.mjs reads. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeResults } from '../bench/lib.js';

const SCRIPT = fileURLToPath(new URL('../scripts/bench-tables.mjs', import.meta.url));
const pgUrl = process.env.QGJOB_TEST_DATABASE_URL;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgjob-bench-results-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeResults', () => {
  it('writes name, date, commit, machine, params and rows; bench-tables renders them', async () => {
    const rows = [{ store: 'pglite', 'jobs/s': 1454 }];
    const path = await writeResults('submit', { params: { SINGLE: 100, BULK: 2 }, rows, notes: ['a note'], dir });
    expect(path).toBe(join(dir, 'submit.json'));
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(file).toMatchObject({
      benchmark: 'submit',
      command: 'npm run bench:submit',
      params: { SINGLE: 100, BULK: 2 },
      rows,
      notes: ['a note'],
      machine: { cores: os.cpus().length, node: process.version },
    });
    expect(Date.parse(file.date)).not.toBeNaN();
    expect(file.commit.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(typeof file.commit.dirty).toBe('boolean');
    expect(file.machine.cpu.length).toBeGreaterThan(0);
    expect(file.machine.memory_gib).toBeGreaterThan(0);
    expect(file.machine.postgresql).toBeUndefined();

    const readme = join(dir, 'README.md');
    writeFileSync(readme, '<!-- bench:submit -->\n<!-- /bench:submit -->\n');
    const r = spawnSync(process.execPath, [SCRIPT, `--readme=${readme}`, `--results=${dir}`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const text = readFileSync(readme, 'utf8');
    expect(text).toContain(`on commit \`${file.commit.sha.slice(0, 7)}`);
    expect(text).toContain('`npm run bench:submit`, SINGLE=100, BULK=2');
    expect(text).toContain('| pglite | 1,454 |');
  });

  it.runIf(pgUrl)('records the PostgreSQL server version when given its URL', async () => {
    const path = await writeResults('dispatch', { params: {}, rows: [], postgresUrl: pgUrl, dir });
    expect(JSON.parse(readFileSync(path, 'utf8')).machine.postgresql).toMatch(/^\d+(\.\d+)?/);
  });
});
