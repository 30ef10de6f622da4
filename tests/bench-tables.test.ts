/** scripts/bench-tables.mjs: README tables from bench/results/*.json, between markers. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../scripts/bench-tables.mjs', import.meta.url));

const depth = {
  benchmark: 'depth',
  command: 'npm run bench:depth',
  date: '2025-03-04T05:06:07.000Z',
  commit: { sha: '0123456789abcdef0123456789abcdef01234567', dirty: false },
  machine: {
    cpu: 'Test CPU @ 3.0GHz',
    cores: 2,
    memory_gib: 23.4,
    node: 'v20.20.2',
    postgresql: '15.20 (Debian 15.20-0+deb12u1)',
  },
  params: { DEPTHS: '1000,1000000', MEASURE_JOBS: 3000 },
  rows: [
    { depth: 1000, 'jobs/s': 2500, 'claim p50 ms': '3.1', note: 'a|b' },
    { depth: 1000000, 'jobs/s': 2400, 'claim p50 ms': '3.4', note: '' },
  ],
};
const cli = {
  benchmark: 'cli',
  command: 'npm run bench:cli',
  date: '2025-03-04T08:00:00.000Z',
  commit: { sha: 'fedcba9876543210fedcba9876543210fedcba98', dirty: true },
  machine: { cpu: 'Test CPU', cores: 2, memory_gib: 23.4, node: 'v20.20.2' },
  params: { RUNS: 20 },
  rows: [{ command: 'qgjob --help', 'median ms': '65.9' }],
};

let dir: string;
let readme: string;
let results: string;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, `--readme=${readme}`, '--results', results, ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgjob-bench-tables-'));
  readme = join(dir, 'README.md');
  results = join(dir, 'results');
  mkdirSync(results);
  writeFileSync(join(results, 'depth.json'), JSON.stringify(depth));
  writeFileSync(join(results, 'cli.json'), JSON.stringify(cli));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('bench-tables', () => {
  it('replaces the text between the markers with the run line and the table', () => {
    writeFileSync(readme, '# Title\n\nBefore.\n\n<!-- bench:depth -->\nold table\n<!-- /bench:depth -->\n\nAfter.\n');
    const first = run();
    expect(first.code).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(
      [
        '# Title',
        '',
        'Before.',
        '',
        '<!-- bench:depth -->',
        'Measured 2025-03-04 on commit `0123456` (Test CPU @ 3.0GHz, 2 cores, 23.4 GiB, Node 20.20.2, PostgreSQL 15.20); ' +
          '`npm run bench:depth`, DEPTHS=1000,1000000, MEASURE_JOBS=3000',
        '',
        '| depth | jobs/s | claim p50 ms | note |',
        '| --- | --- | --- | --- |',
        '| 1,000 | 2,500 | 3.1 | a\\|b |',
        '| 1,000,000 | 2,400 | 3.4 |  |',
        '<!-- /bench:depth -->',
        '',
        'After.',
        '',
      ].join('\n'),
    );
    // No markers for cli: a note, and nothing of it written.
    expect(first.out).toContain('no <!-- bench:cli -->');
    expect(readFileSync(readme, 'utf8')).not.toContain('qgjob --help');
    // Running again changes nothing, and --check agrees.
    const again = readFileSync(readme, 'utf8');
    expect(run().code).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(again);
    expect(run('--check').code).toBe(0);
  });

  it('--check exits 1 when a table is out of date, and writes nothing', () => {
    const stale = 'x\n<!-- bench:cli -->\n<!-- /bench:cli -->\ny\n';
    writeFileSync(readme, stale);
    const check = run('--check');
    expect(check.code).toBe(1);
    expect(check.out).toContain('out of date for: cli');
    expect(readFileSync(readme, 'utf8')).toBe(stale);
    expect(run().code).toBe(0);
    const written = readFileSync(readme, 'utf8');
    expect(written).toContain(
      'Measured 2025-03-04 on commit `fedcba9-dirty` (Test CPU, 2 cores, 23.4 GiB, Node 20.20.2); `npm run bench:cli`, RUNS=20',
    );
    expect(written).toContain('| qgjob --help | 65.9 |');
    expect(run('--check').code).toBe(0);
  });

  it('leaves a README without any markers alone', () => {
    writeFileSync(readme, '# Nothing to fill\n');
    const r = run();
    expect(r.code).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe('# Nothing to fill\n');
    expect(r.out).toContain('no <!-- bench:depth -->');
    expect(run('--check').code).toBe(0);
  });
});
