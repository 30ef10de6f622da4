import { ApiError, UnreachableError } from '@qgjob/client';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { InterruptedError, UsageError, WaitTimeoutError } from '../src/errors.js';
import { outcomeOf } from '../src/exit.js';

const URL = 'http://localhost:8080/v1/jobs';

describe('outcomeOf', () => {
  it('usage errors exit 2 with their hint last', () => {
    expect(outcomeOf(new UsageError('--org-id is required', { hint: "see 'qgjob submit --help'" }))).toEqual({
      code: 2,
      message: "--org-id is required — see 'qgjob submit --help'",
    });
  });

  it('an unreachable server exits 3 naming the URL and how to start one', () => {
    const outcome = outcomeOf(new UnreachableError(['http://localhost:8080']));
    expect(outcome.code).toBe(3);
    expect(outcome.message).toBe(
      "cannot reach the qgjob server at http://localhost:8080 — start one with 'job-server' ('npx job-server --open' for local use, no token needed), or set --server / QGJOB_SERVER",
    );
  });

  it.each([
    [500, 'internal', 3],
    [503, 'unavailable', 3],
    [429, 'rate_limited', 3],
    [401, 'unauthorized', 4],
    [403, 'forbidden', 4],
    [400, 'validation_failed', 2],
    [404, 'not_found', 2],
    [409, 'conflict', 2],
    [413, 'body_too_large', 2],
    [422, 'idempotency_conflict', 2],
  ])('HTTP %d (%s) exits %d', (status, code, exit) => {
    expect(outcomeOf(new ApiError(status, code, 'boom', URL)).code).toBe(exit);
  });

  it('server errors name the URL', () => {
    expect(outcomeOf(new ApiError(500, 'internal', 'database down', URL)).message).toContain(URL);
  });

  it('auth errors say how to give a token', () => {
    expect(outcomeOf(new ApiError(401, 'unauthorized', 'bad token', URL)).message).toMatch(/--token or QGJOB_TOKEN$/);
  });

  it('server validation errors name the flag', () => {
    const error = new ApiError(400, 'validation_failed', 'tests[2] must be a relative path', URL, 'tests[2]');
    expect(outcomeOf(error)).toEqual({ code: 2, message: '--test must be a relative path' });
  });

  it('a conflict passes the server message on', () => {
    const error = new ApiError(
      409,
      'conflict',
      'job job_1 already passed: only an unfinished job can be cancelled',
      URL,
    );
    expect(outcomeOf(error)).toEqual({
      code: 2,
      message: 'job job_1 already passed: only an unfinished job can be cancelled',
    });
  });

  it('timeouts exit 5 and interruptions 130', () => {
    expect(outcomeOf(new WaitTimeoutError('--timeout of 1m elapsed')).code).toBe(5);
    expect(outcomeOf(new InterruptedError('interrupted')).code).toBe(130);
    expect(outcomeOf(new DOMException('aborted', 'AbortError')).code).toBe(130);
  });

  it('commander usage errors exit 2 on one line; help and version exit 0 silently', () => {
    const unknown = new CommanderError(
      1,
      'commander.unknownOption',
      "error: unknown option '--bogus'\n(Did you mean --json?)",
    );
    const outcome = outcomeOf(unknown);
    expect(outcome.code).toBe(2);
    expect(outcome.message).toMatch(/^unknown option '--bogus' \(Did you mean --json\?\) — /);
    expect(outcomeOf(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toEqual({
      code: 0,
      message: '',
    });
    expect(outcomeOf(new CommanderError(0, 'commander.version', '0.1.0'))).toEqual({ code: 0, message: '' });
    expect(outcomeOf(new CommanderError(1, 'commander.help', '(outputHelp)')).code).toBe(2);
    // Help asked for (`qgjob help`) rather than shown for want of a command.
    expect(outcomeOf(new CommanderError(0, 'commander.help', '(outputHelp)'))).toEqual({ code: 0, message: '' });
  });

  it('a 401 says where a token comes from', () => {
    const missing = outcomeOf(
      new ApiError(401, 'unauthorized', 'missing token: send Authorization: Bearer <token>', URL),
    );
    expect(missing.code).toBe(4);
    expect(missing.message).toBe(
      `this server requires a token (the qgjob server at ${URL} answered 401 unauthorized) — ask its operator for one, or as an admin create one with 'qgjob token create --kind=org --org-id=ORG --name=NAME' (the server's first start prints where its admin token is); pass it with --token or QGJOB_TOKEN`,
    );
    const revoked = outcomeOf(new ApiError(401, 'unauthorized', 'token revoked: ask an admin for a new one', URL));
    expect(revoked.message).toMatch(
      /^the qgjob server at \S+ did not accept the token \(401 unauthorized: token revoked: ask an admin for a new one\) — ask its operator /,
    );
  });

  it('a 403 says which kind of token the action needs', () => {
    const forbidden = (message: string) => outcomeOf(new ApiError(403, 'forbidden', message, URL, undefined));
    expect(forbidden('an org token cannot do this: it needs admin credentials').message).toMatch(
      / — this needs an admin token: set --token or QGJOB_TOKEN to one \(an admin creates tokens with 'qgjob token create'\)$/,
    );
    expect(forbidden('an agent token cannot do this: it needs admin or org credentials').message).toContain(
      '— this needs an admin or org token: ',
    );
    expect(forbidden('org_id acme is not the org of this token (qualgent)').message).toMatch(
      / — use a token of org acme: an admin creates one with 'qgjob token create --kind=org --org-id=acme --name=NAME'$/,
    );
    expect(forbidden('nope').code).toBe(4);
  });

  it('anything else is unexpected: exit 1, pointing at QGJOB_DEBUG', () => {
    const outcome = outcomeOf(new Error('oops'));
    expect(outcome.code).toBe(1);
    expect(outcome.message).toContain('QGJOB_DEBUG=1');
  });
});
