/** `qgjob agents`: the agents and their devices — busy, idle or offline, and on what. */
import { ApiError } from '@qgjob/client';
import type { AgentList, DeviceView } from '@qgjob/protocol';
import { type Context, createContext, type GlobalOptions } from '../context.js';
import { UnsupportedError } from '../errors.js';
import { formatAgo, printJson, type Style, table } from '../output.js';

export type AgentsOptions = GlobalOptions;

function paintState(style: Style, state: DeviceView['state']): string {
  if (state === 'busy') return style.cyan(state);
  if (state === 'idle') return style.green(state);
  return style.dim(state);
}

function group(device: DeviceView): string {
  if (device.org_id && device.app_version_id) return `${device.org_id}/${device.app_version_id}`;
  // Busy with another org's batch (the server hides which).
  return device.state === 'busy' ? 'another org' : '-';
}

export function agentsTable(list: AgentList, style: Style, now = Date.now()): string {
  const rows = list.agents.flatMap((agent) => {
    const seen = formatAgo(agent.last_seen_at, now);
    if (agent.devices.length === 0) return [[agent.name, '-', '-', '-', '-', seen, '-']];
    return agent.devices.map((device) => [
      agent.name,
      device.name,
      device.target,
      paintState(style, device.state),
      group(device),
      seen,
      device.warm.map((w) => `${w.org_id}/${w.app_version_id}`).join(', ') || '-',
    ]);
  });
  return table(['AGENT', 'DEVICE', 'TARGET', 'STATE', 'GROUP', 'LAST SEEN', 'WARM'], rows, style);
}

async function listAgents(ctx: Context): Promise<AgentList> {
  try {
    return await ctx.client.listAgents();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw new UnsupportedError(`the qgjob server at ${error.url} does not list agents (GET /v1/agents)`, {
        cause: error,
        hint: 'upgrade job-server',
      });
    }
    throw error;
  }
}

export async function run(options: AgentsOptions, signal: AbortSignal): Promise<number> {
  const ctx = createContext(options, signal);
  const list = await listAgents(ctx);
  if (ctx.json) printJson(list);
  else if (list.agents.length === 0) process.stderr.write('no agents registered\n');
  else process.stdout.write(`${agentsTable(list, ctx.out)}\n`);
  return 0;
}
