/** `qgjob drain` and `qgjob enable`: their flags and help; the code that runs them is ./run.ts. */
import { type CommandDefinition, type CommandOptions, defineCommand, flag } from '../define.js';

const FLAGS = [
  flag('--device <id-or-name>', 'a device, by id or by name (as qgjob agents lists it)'),
  flag('--agent <name-or-id>', 'an agent: with --device, the one holding it; alone, every device of it'),
];

export type DrainOptions = CommandOptions<typeof FLAGS>;

function help(drained: boolean): string {
  return `
${
  drained
    ? `A drained device finishes the test it is running, hands the rest of its batch back to the
queue (the jobs run elsewhere) and takes no more work until 'qgjob enable'. qgjob agents
shows it draining, then drained.`
    : `An enabled device takes work again. Enabling also lifts a quarantine (a device resting
after infrastructure failures in a row) and clears its failure count.`
}

--device takes a device id, or a device name looked up with GET /v1/agents (on --agent
when given); a name that several agents use needs --agent. --agent alone applies to every
device of that agent (by name or id). Needs an admin token (--token or QGJOB_TOKEN).

Output: one line per device, e.g.
  ${drained ? 'drained emulator-5554 on agent lab-host-1 (finishing batch bat_123)' : 'enabled emulator-5554 on agent lab-host-1'}

JSON (--json): {"devices": [{"id", "name", "target", "agent", "drained", "batch_id"}]};
  agent is the agent's name, batch_id the batch a drained device is finishing, or null.

Exit codes:
  0    done (also when the device already was ${drained ? 'drained' : 'enabled'})
  2    no such device or agent, a device name on several agents, or a bad flag
  3    server unreachable or server error
  4    authentication error, or a token that is not an admin token
  130  interrupted`;
}

function define(drained: boolean): CommandDefinition {
  const verb = drained ? 'drain' : 'enable';
  return defineCommand({
    name: verb,
    description: drained
      ? 'Admin: take a device, or every device of an agent, out of rotation: it finishes the test it runs and takes no more work.'
      : 'Admin: put drained or quarantined devices back into rotation.',
    flags: FLAGS,
    load: async () => {
      const { setDrained } = await import('./run.js');
      return (options, signal) => setDrained(options, signal, drained);
    },
    examples: [
      `qgjob ${verb} --device=emulator-5554`,
      `qgjob ${verb} --device=emulator-5554 --agent=lab-host-1`,
      `qgjob ${verb} --agent=lab-host-1`,
      `qgjob ${verb} --device=dev_123 --json`,
    ],
    help: help(drained),
  });
}

export const drain = define(true);
export const enable = define(false);
