import { describe, expect, it } from 'vitest';
import { escapeXml, jobMs, junitXml, suitesBySubmission } from '../src/junit.js';
import { jobOf as job, runOf as run } from './fixtures.js';

describe('junitXml', () => {
  const jobs = [
    job('a'),
    job('b', {
      status: 'failed',
      attempts: 2,
      error: 'expected <Welcome> & "hello"',
      runs: [
        run(1, { status: 'failed', error: 'first' }),
        run(2, { status: 'failed', duration_ms: 1500, error: 'second' }),
      ],
    }),
    job('c', { status: 'errored', error: 'device lost', runs: [run(1, { status: 'errored', error: 'device lost' })] }),
    job('d', { status: 'cancelled', runs: [], started_at: null, finished_at: null }),
    job('e', { target: 'device', app_version_id: 'bs://4f2a' }),
  ];
  const xml = junitXml([{ name: 'sub_1', jobs }]);

  it('writes one testsuite with totals', () => {
    expect(
      xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="qgjob" tests="5" failures="1" errors="1" skipped="1" time="9.500">',
      ),
    ).toBe(true);
    expect(xml).toContain('<testsuite name="sub_1" tests="5" failures="1" errors="1" skipped="1" time="9.500">');
    expect(xml.trimEnd().endsWith('</testsuites>')).toBe(true);
  });

  it('names each testcase by test path with classname <target>.<app_version_id>', () => {
    expect(xml).toContain('<testcase name="tests/a.spec.js" classname="emulator.xyz123" time="2.000">');
    expect(xml).toContain('<testcase name="tests/e.spec.js" classname="device.bs://4f2a" time="2.000">');
  });

  it('adds failure and error elements with escaped messages, runs in the body', () => {
    expect(xml).toContain('<failure message="expected &lt;Welcome&gt; &amp; &quot;hello&quot;" type="failed">');
    expect(xml).toContain(
      'run 2 failed in 1.5s (device emulator-5554, agent agent-a, batch batch_1, reused the app install): second',
    );
    expect(xml).toContain('<error message="device lost" type="errored">');
    expect(xml).toContain('<skipped message="cancelled"/>');
  });

  it('has one failure per failed job and balanced testcases', () => {
    expect(xml.match(/<testcase /g)).toHaveLength(5);
    expect(xml.match(/<\/testcase>/g)).toHaveLength(5);
    expect(xml.match(/<failure /g)).toHaveLength(1);
  });

  it("puts a failed test's file and line on its testcase", () => {
    const failed = job('f', {
      status: 'failed',
      error: 'Error: expect(received).toBe(expected)\n    at tests/f.spec.js:10:5',
    });
    expect(junitXml([{ name: 's', jobs: [failed] }])).toContain(
      '<testcase name="tests/f.spec.js" classname="emulator.xyz123" time="2.000" file="tests/f.spec.js" line="10">',
    );
  });

  it('marks unfinished jobs as skipped', () => {
    const out = junitXml([{ name: 's', jobs: [job('x', { status: 'running', runs: [] })] }]);
    expect(out).toContain('<skipped message="not finished before --timeout (running)"/>');
  });
});

describe('jobMs', () => {
  it('sums the runs, falling back to their timestamps', () => {
    expect(jobMs(job('a', { runs: [run(1), run(2, { duration_ms: null })] }))).toBe(4000);
  });

  it('uses the job span without runs', () => {
    expect(jobMs(job('a', { runs: [] }))).toBe(2000);
  });
});

describe('escapeXml', () => {
  it('escapes markup and drops characters XML cannot hold', () => {
    expect(escapeXml(`a<b>&"c'\u0000\u001b[31m`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;[31m');
  });
});

describe('suitesBySubmission', () => {
  it('groups jobs per submission in order of appearance', () => {
    const suites = suitesBySubmission([job('a', { submission_id: 's2' }), job('b'), job('c', { submission_id: 's2' })]);
    expect(suites.map((s) => [s.name, s.jobs.map((j) => j.id)])).toEqual([
      ['s2', ['a', 'c']],
      ['sub_1', ['b']],
    ]);
  });
});
