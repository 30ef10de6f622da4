/** `qgjob agents`: its help; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand } from '../define.js';

export type AgentsOptions = CommandOptions<[]>;

export const agents = defineCommand({
  name: 'agents',
  description: 'List the agents and their devices: state, current group, installed builds.',
  flags: [],
  load: async () => (await import('./run.js')).run,
  examples: ['qgjob agents', 'qgjob agents --json'],
  help: `
One row per device. STATE is one of
  busy         holding a batch
  idle         its agent is waiting for work for it
  offline      neither, for 5 s or more (its agent is gone, or resting after a failed batch)
  quarantined  too many infrastructure failures in a row (install failed, device
               unavailable, lease lost): no work until its cool-down ends, then one probe
               job; a success heals it. Shown with the time left: quarantined (25s left)
  draining     drained by an operator, finishing the test it runs
  drained      takes no work until 'qgjob enable'
followed by infrastructure failures in a row, if any: idle (2 failures), and "probation"
once a quarantine's cool-down is over. GROUP is the org/app version of the batch it runs.
LAST SEEN is the agent's last request. WARM lists the builds the device holds installed,
one per org.

JSON (--json): the server's answer, untouched: {"agents": [{"id", "name", "last_seen_at",
  "devices": [{"id", "name", "target", "state", "quarantined_until" (ISO time or null),
  "infra_failures", "batch_id", "org_id", "app_version_id",
  "warm": [{"org_id", "app_version_id"}]}]}]}`,
});
