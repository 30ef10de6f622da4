/**
 * The one place every error becomes a line on stderr and an exit code (SPEC.md):
 * 2 usage/validation, 3 unreachable or server error, 4 auth, 5 timeout, 130 interrupted.
 * The message leads with what went wrong and ends with what to do next.
 */
import { ApiError, UnreachableError } from '@qgjob/client';
import { CommanderError } from 'commander';
import { AuthError, CliError, EXIT } from './errors.js';
import { messageForFlag } from './fields.js';

export interface Outcome {
  code: number;
  /** Without the `error: ` prefix; empty when nothing should be printed (help, version). */
  message: string;
}

const START_SERVER =
  "start one with 'job-server' ('npx job-server --open' for local use, no token needed), or set --server / QGJOB_SERVER";

/** Where a token comes from, for a server that asked for one. */
export const GET_A_TOKEN =
  "ask its operator for one, or as an admin create one with 'qgjob token create --kind=org --org-id=ORG --name=NAME' (the server's first start prints where its admin token is); pass it with --token or QGJOB_TOKEN";

function withHint(message: string, hint: string | undefined): string {
  return hint ? `${message} — ${hint}` : message;
}

function fromCommander(error: CommanderError): Outcome {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
    return { code: EXIT.ok, message: '' };
  }
  // `qgjob` alone: commander already printed the help on stderr (exit 2); asked for, on stdout (exit 0).
  if (error.code === 'commander.help') return { code: error.exitCode === 0 ? EXIT.ok : EXIT.usage, message: '' };
  const text = error.message
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ');
  const hint =
    error.code === 'commander.excessArguments'
      ? "quote globs so the shell leaves them to qgjob: --test='tests/**/*.spec.js'"
      : "see 'qgjob --help' or 'qgjob <command> --help'";
  return { code: EXIT.usage, message: withHint(text, hint) };
}

/**
 * What a 403 says to do: the kind of token the server asked for (`it needs admin
 * credentials`), or a token of the org named (`org_id x is not the org of this token`).
 */
function forbiddenHint(error: ApiError): string {
  const kinds = /it needs (.+) credentials/.exec(error.message)?.[1];
  if (kinds) {
    const article = /^[aeiou]/.test(kinds) ? 'an' : 'a';
    const which = kinds.includes('admin') && !kinds.includes(' or ') ? 'an admin token' : `${article} ${kinds} token`;
    return `this needs ${which}: set --token or QGJOB_TOKEN to one (an admin creates tokens with 'qgjob token create')`;
  }
  const org = /(\S+) is not the org of this token/.exec(error.message)?.[1];
  if (org) {
    return `use a token of org ${org}: an admin creates one with 'qgjob token create --kind=org --org-id=${org} --name=NAME'`;
  }
  return "use a token with access to this org (an org token reaches only its own org's jobs; an admin token every org's)";
}

function notAllowed(error: ApiError): string {
  return `not allowed by the qgjob server at ${error.url} (${error.status} ${error.code}: ${error.message})`;
}

/** A 403 as every command reports it (exit 4), with what this command needs instead. */
export function forbidden(error: ApiError, hint: string): AuthError {
  return new AuthError(notAllowed(error), { cause: error, hint });
}

function fromApi(error: ApiError): Outcome {
  const what = `${error.status} ${error.code}: ${error.message}`;
  if (error.status === 401) {
    // No token sent: the server asks for one. One sent: it is wrong, revoked or expired.
    const message = /^missing token/.test(error.message)
      ? `this server requires a token (the qgjob server at ${error.url} answered 401 ${error.code})`
      : `the qgjob server at ${error.url} did not accept the token (${what})`;
    return { code: EXIT.auth, message: withHint(message, GET_A_TOKEN) };
  }
  if (error.status === 403) {
    return { code: EXIT.auth, message: withHint(notAllowed(error), forbiddenHint(error)) };
  }
  if (error.status >= 500 || error.status === 429) {
    const hint = error.retryAfterSeconds
      ? `try again in ${error.retryAfterSeconds}s`
      : "try again, or check the server's logs";
    return { code: EXIT.unreachable, message: withHint(`the qgjob server at ${error.url} failed (${what})`, hint) };
  }
  // 400, 404, 409, 413, 422: the request was wrong; name the flag when the server named a field.
  const message = error.field ? messageForFlag({ field: error.field, message: error.message }) : error.message;
  return {
    code: EXIT.usage,
    message: withHint(message, error.status === 413 ? 'submit fewer tests at once' : undefined),
  };
}

export function outcomeOf(error: unknown): Outcome {
  if (error instanceof CliError) return { code: error.exitCode, message: withHint(error.message, error.hint) };
  if (error instanceof CommanderError) return fromCommander(error);
  if (error instanceof UnreachableError)
    return { code: EXIT.unreachable, message: withHint(error.message, START_SERVER) };
  if (error instanceof ApiError) return fromApi(error);
  if (error instanceof Error && error.name === 'AbortError') return { code: EXIT.interrupted, message: 'interrupted' };
  const text = error instanceof Error ? error.message : String(error);
  return {
    code: EXIT.jobsFailed,
    message: withHint(`unexpected: ${text}`, 'run again with QGJOB_DEBUG=1 for details, and report it'),
  };
}

function debugText(error: unknown): string {
  const lines: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
    lines.push(depth === 0 ? '' : 'caused by:', e instanceof Error ? (e.stack ?? e.message) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return lines.filter(Boolean).join('\n');
}

/** Writes the outcome's message and returns its exit code. */
export function report(error: unknown, env: NodeJS.ProcessEnv = process.env): number {
  const outcome = outcomeOf(error);
  // The stack (on request) comes first so the one-line message stays the last thing printed.
  if (env.QGJOB_DEBUG === '1') process.stderr.write(`${debugText(error)}\n`);
  if (outcome.message) process.stderr.write(`error: ${outcome.message.replace(/\s*\n\s*/g, ' ')}\n`);
  return outcome.code;
}
