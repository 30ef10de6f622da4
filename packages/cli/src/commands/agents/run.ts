/**
 * `qgjob agents`: the agents and their devices — busy, idle, offline, quarantined, draining
 * or drained, and on what.
 */
import { ApiError } from '@qgjob/client';
import type { AgentList, DeviceView } from '@qgjob/protocol';
import { type Context, createContext } from '../../context.js';
import { formatDuration } from '../../duration.js';
import { UnsupportedError } from '../../errors.js';
import { formatAgo, printJson, type Style, table } from '../../output.js';
import type { AgentsOptions } from './definition.js';

function paintState(style: Style, state: DeviceView['state']): string {
  switch (state) {
    case 'busy':
      return style.cyan(state);
    case 'idle':
      return style.green(state);
    case 'quarantined':
      return style.red(state);
    case 'draining':
    case 'drained':
      return style.yellow(state);
    default:
      return style.dim(state);
  }
}

/** Time left, rounded up to the second: `25s`, `4m05s`. */
function formatLeft(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return seconds < 60 ? `${seconds}s` : formatDuration(seconds * 1000);
}

/**
 * The STATE cell: the state, then what else matters about the device's health in
 * parentheses: `quarantined (25s left)`, `idle (probation, 3 failures)`, `busy (1 failure)`.
 */
export function stateCell(style: Style, device: DeviceView, now = Date.now()): string {
  const notes: string[] = [];
  const until = device.quarantined_until ? Date.parse(device.quarantined_until) : Number.NaN;
  if (device.state === 'quarantined') {
    if (Number.isFinite(until)) notes.push(`${formatLeft(until - now)} left`);
  } else {
    // Drained while quarantined: both hold.
    if (until > now) notes.push(`quarantined, ${formatLeft(until - now)} left`);
    // Its cool-down is over: its next batch is a probe of one job, and a success heals it.
    else if (until <= now) notes.push('probation');
    if (device.infra_failures > 0) {
      notes.push(`${device.infra_failures} failure${device.infra_failures === 1 ? '' : 's'}`);
    }
  }
  const state = paintState(style, device.state);
  if (notes.length === 0) return state;
  const text = `(${notes.join(', ')})`;
  return `${state} ${until > now ? style.red(text) : style.yellow(text)}`;
}

function group(device: DeviceView): string {
  if (device.org_id && device.app_version_id) return `${device.org_id}/${device.app_version_id}`;
  // Holding another org's batch (the server hides which).
  return device.state === 'busy' || device.state === 'draining' ? 'another org' : '-';
}

export function agentsTable(list: AgentList, style: Style, now = Date.now()): string {
  const rows = list.agents.flatMap((agent) => {
    const seen = formatAgo(agent.last_seen_at, now);
    if (agent.devices.length === 0) return [[agent.name, '-', '-', '-', '-', seen, '-']];
    return agent.devices.map((device) => [
      agent.name,
      device.name,
      device.target,
      stateCell(style, device, now),
      group(device),
      seen,
      device.warm.map((w) => `${w.org_id}/${w.app_version_id}`).join(', ') || '-',
    ]);
  });
  return table(['AGENT', 'DEVICE', 'TARGET', 'STATE', 'GROUP', 'LAST SEEN', 'WARM'], rows, style, {
    // WARM and GROUP give way on a narrow terminal; names stay whole, as drain takes them.
    flexible: [6, 4],
  });
}

/** GET /v1/agents; an older server without it is named as such (exit 3). */
export async function listAgents(ctx: Context): Promise<AgentList> {
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
  else if (list.agents.length === 0) {
    process.stderr.write(
      `no agents registered — start one on a host with devices: qgjob-agent --server=${ctx.servers.join(',')} --device=emulator:emulator-5554 (see qgjob-agent --help)\n`,
    );
  } else process.stdout.write(`${agentsTable(list, ctx.out)}\n`);
  return 0;
}
