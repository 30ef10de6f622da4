/** Tables fitted to a width, the terminal width, plurals, required flags and suggestions. */
import { describe, expect, it } from 'vitest';
import { makeStyle, plural, stripAnsi, table, terminalColumns, truncate } from '../src/output.js';
import { requiredMessage, unmet } from '../src/required.js';
import { suggestion } from '../src/suggest.js';

const plain = makeStyle(false);
const HEADER = ['JOB', 'STATUS', 'TEST'];
const ROWS = [
  ['job_01HZX5K3Q8V7N2M4P6R8T0W2Y4', 'queued', 'tests/some/long/path/to/checkout-with-saved-card.spec.js'],
  ['job_01HZX5K3Q8V7N2M4P6R8T0W2Y5', 'passed', 'tests/login.spec.js'],
];
const widest = (text: string) => Math.max(...text.split('\n').map((line) => stripAnsi(line).length));

describe('table', () => {
  it('without a width is as wide as its cells', () => {
    const text = table(HEADER, ROWS, plain, { width: undefined });
    expect(text.split('\n')[1]).toBe(
      'job_01HZX5K3Q8V7N2M4P6R8T0W2Y4  queued  tests/some/long/path/to/checkout-with-saved-card.spec.js',
    );
  });

  it('cuts its widest column to fit a width, ending the cut cells in …', () => {
    const text = table(HEADER, ROWS, plain, { width: 60 });
    expect(widest(text)).toBeLessThanOrEqual(60);
    const lines = text.split('\n');
    expect(lines[1]).toBe('job_01HZX5K3Q8V7N2M4P6R8T0W2Y4  queued  tests/some/long/pat…');
    expect(lines[1]).toHaveLength(60);
    // Short enough cells stay whole.
    expect(lines[2]).toBe('job_01HZX5K3Q8V7N2M4P6R8T0W2Y5  passed  tests/login.spec.js');
  });

  it('leaves alone what fits', () => {
    expect(table(HEADER, ROWS, plain, { width: 200 })).toBe(table(HEADER, ROWS, plain, { width: undefined }));
  });

  it('cuts only the flexible columns, the widest first, never below 10 characters', () => {
    const rows = [['a-very-long-agent-name-here', 'a-long-device-name', 'busy']];
    const text = table(['AGENT', 'DEVICE', 'STATE'], rows, plain, { width: 40, flexible: [0, 1] });
    expect(widest(text)).toBeLessThanOrEqual(40);
    expect(text.split('\n')[1]).toMatch(/^a-very-lo\S*…\s+a-long-de\S*…?\s+busy$/);
    // The id column is not flexible: too narrow a width leaves the lines long instead.
    const tight = table(HEADER, ROWS, plain, { width: 20, flexible: [2] });
    expect(tight.split('\n')[1]).toBe('job_01HZX5K3Q8V7N2M4P6R8T0W2Y4  queued  tests/som…');
  });

  it('a cut cell loses its colour, the others keep it', () => {
    const colour = makeStyle(true);
    const text = table(['STATUS', 'TEST'], [[colour.green('passed'), colour.red('x'.repeat(50))]], colour, {
      width: 30,
    });
    const line = text.split('\n')[1] as string;
    expect(line).toContain(colour.green('passed'));
    expect(line).toContain(`${'x'.repeat(21)}…`);
    expect(stripAnsi(line)).toHaveLength(30);
  });

  it('truncate keeps short text and cuts long text', () => {
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcdef', 4)).toBe('abc…');
  });
});

describe('terminalColumns', () => {
  it('is the terminal width on a terminal, COLUMNS when it does not tell, nothing on a pipe', () => {
    expect(terminalColumns({ isTTY: true, columns: 120 }, { COLUMNS: '50' })).toBe(120);
    expect(terminalColumns({ isTTY: true, columns: 0 }, { COLUMNS: '50' })).toBe(50);
    expect(terminalColumns({ isTTY: true }, { COLUMNS: '50' })).toBe(50);
    expect(terminalColumns({ isTTY: true }, { COLUMNS: 'wide' })).toBeUndefined();
    expect(terminalColumns({ isTTY: false, columns: 120 }, { COLUMNS: '50' })).toBeUndefined();
    expect(terminalColumns({}, { COLUMNS: '50' })).toBeUndefined();
  });
});

describe('plural', () => {
  it('says 1 test, 2 tests, 0 tests', () => {
    expect(plural(1, 'test')).toBe('1 test');
    expect(plural(2, 'test')).toBe('2 tests');
    expect(plural(0, 'job')).toBe('0 jobs');
    expect(plural(3, 'batch', 'batches')).toBe('3 batches');
  });
});

describe('required flags', () => {
  const SUBMIT = [['--org-id'], ['--app-version-id'], ['--test']] as const;
  it('finds the unmet ones: absent, empty or an empty list', () => {
    expect(unmet({ orgId: 'q', appVersionId: ' ', test: [] }, SUBMIT)).toEqual([['--app-version-id'], ['--test']]);
    expect(unmet({ orgId: 'q', appVersionId: 'v', test: ['a.js'] }, SUBMIT)).toEqual([]);
    expect(unmet({ url: 'https://x' }, [['FILE', '--url']])).toEqual([]);
    expect(unmet({ file: 'app.apk' }, [['FILE', '--url']])).toEqual([]);
  });

  it('names them all in one message', () => {
    expect(requiredMessage([['--org-id']])).toBe('--org-id is required');
    expect(requiredMessage([['--job-id', '--submission-id']])).toBe('--job-id or --submission-id is required');
    expect(requiredMessage([['--org-id'], ['--test']])).toBe('--org-id and --test are required');
    expect(requiredMessage([['--org-id'], ['--app-version-id'], ['FILE', '--url']])).toBe(
      '--org-id, --app-version-id and FILE (or --url) are required',
    );
  });
});

describe('suggestion', () => {
  it('suggests a close name, swaps included, and nothing for a far one', () => {
    const commands = ['submit', 'status', 'wait', 'list', 'cancel', 'logs', 'help'];
    expect(suggestion('sumbit', commands)).toBe(' (Did you mean submit?)');
    expect(suggestion('stauts', commands)).toBe(' (Did you mean status?)');
    expect(suggestion('lgos', commands)).toBe(' (Did you mean logs?)');
    expect(suggestion('deploy', commands)).toBe('');
  });
});
