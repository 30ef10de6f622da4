import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LoggerOptions } from '../src/log.js';

function capture(options: Omit<LoggerOptions, 'stream'> & { tty?: boolean } = {}) {
  const stream = Object.assign(new PassThrough(), { isTTY: options.tty === true });
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const log = createLogger({ ...options, stream });
  return { log, lines: () => text.split('\n').filter(Boolean) };
}

describe('agent logger', () => {
  it('writes JSON lines off a terminal, with child fields, levels filtered, errors as messages', () => {
    const { log, lines } = capture({ level: 'info' });
    const child = log.child({ agent: 'lab-1' }).child({ batch: 'bat_1' });
    child.debug('not shown');
    child.info('job started', { job: 'job_1', skipped: undefined });
    child.warn('report failed; retrying', { error: new Error('ECONNREFUSED') });
    const [started, failed, ...rest] = lines().map((line) => JSON.parse(line));
    expect(rest).toEqual([]);
    expect(started).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      msg: 'job started',
      agent: 'lab-1',
      batch: 'bat_1',
      job: 'job_1',
    });
    expect(failed).toMatchObject({ level: 'warn', error: 'ECONNREFUSED' });
  });

  it('writes `time LEVEL msg key=value` on a terminal', () => {
    const { log, lines } = capture({ tty: true });
    log.child({ agent: 'lab-1' }).info('registered', { devices: 'emulator:e1,device:R58', note: 'two words' });
    expect(lines()).toEqual([
      expect.stringMatching(
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}registered agent=lab-1 devices=emulator:e1,device:R58 note="two words"$/,
      ),
    ]);
  });

  it('never writes a token, even when one is handed to it', () => {
    const { log, lines } = capture({ level: 'debug' });
    log.child({ token: 'qgjob_tok_secret' }).debug('oops', { authorization: 'Bearer qgjob_tok_secret' });
    expect(lines().join('\n')).not.toContain('qgjob_tok_secret');
  });

  it('is silent at level silent', () => {
    const { log, lines } = capture({ level: 'silent' });
    log.error('nothing');
    expect(lines()).toEqual([]);
  });
});
