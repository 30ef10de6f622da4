/**
 * `qgjob drain` and `qgjob enable` (admin): take a device, or every device of an agent, out
 * of rotation and back. A drained device finishes the test it runs, hands the rest of its
 * batch back and takes no work until enabled; enabling also lifts a quarantine.
 * `--device` is a device id or name; a name is looked up in `GET /v1/agents` (within
 * `--agent` when given) and must name one device.
 */
import { ApiError } from '@qgjob/client';
import type { AgentList, DrainedDevice, DrainResponse } from '@qgjob/protocol';
import { type Context, createContext } from '../../context.js';
import { UnsupportedError, UsageError } from '../../errors.js';
import { forbidden } from '../../exit.js';
import { printJson, type Style } from '../../output.js';
import { listAgents } from '../agents/run.js';
import type { DrainOptions } from './definition.js';

type Which = { device: string } | { agent: string };

const SEE_AGENTS = "list agents and devices with 'qgjob agents'";

function flag(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text === '' ? undefined : text;
}

/**
 * The device `--device` names: an id the server lists, or else the one device of that name
 * (on `--agent` when given).
 */
export function resolveDevice(list: AgentList, device: string, agent?: string): string {
  const agents = agent === undefined ? list.agents : list.agents.filter((a) => a.name === agent || a.id === agent);
  if (agent !== undefined && agents.length === 0) {
    throw new UsageError(`no agent named ${agent}`, { hint: SEE_AGENTS });
  }
  const byId = agents.find((a) => a.devices.some((d) => d.id === device));
  if (byId) return device;
  const named = agents.flatMap((a) => a.devices.filter((d) => d.name === device).map((d) => ({ agent: a, device: d })));
  const [only] = named;
  if (only && named.length === 1) return only.device.id;
  if (named.length > 1) {
    const where = named.map((m) => `${m.agent.name} (${m.device.id})`).join(', ');
    throw new UsageError(`device name ${device} is on several agents: ${where}`, {
      hint: 'add --agent=NAME to pick one, or give the device id',
    });
  }
  const on = agent === undefined ? '' : ` on agent ${agent}`;
  throw new UsageError(`no device named ${device}${on}`, { hint: SEE_AGENTS });
}

/** A 403 (an org or agent token) is reported as usual, with the hint that this needs an admin token. */
function needsAdmin(error: unknown, verb: string): void {
  if (error instanceof ApiError && error.status === 403) {
    throw forbidden(error, `${verb} needs an admin token: set --token or QGJOB_TOKEN to one`);
  }
}

async function which(
  ctx: Context,
  verb: string,
  device: string | undefined,
  agent: string | undefined,
): Promise<Which> {
  if (device === undefined) return { agent: agent as string };
  const list = await listAgents(ctx).catch((error: unknown) => {
    needsAdmin(error, verb);
    throw error;
  });
  return { device: resolveDevice(list, device, agent) };
}

function explain(error: unknown, verb: string, target: Which): never {
  needsAdmin(error, verb);
  if (error instanceof ApiError) {
    if (error.status === 404 && error.message.startsWith('no route')) {
      const path = 'device' in target ? `/v1/devices/{id}/${verb}` : `/v1/agents/{id}/${verb}`;
      throw new UnsupportedError(`the qgjob server at ${error.url} cannot ${verb} devices (POST ${path})`, {
        cause: error,
        hint: 'upgrade job-server',
      });
    }
    if (error.status === 404) {
      const what = 'device' in target ? `no device with id ${target.device}` : `no agent named ${target.agent}`;
      throw new UsageError(what, { cause: error, hint: SEE_AGENTS });
    }
  }
  throw error;
}

/** `drained emulator-5554 on agent lab-host-1 (finishing batch bat_…)`, `enabled emulator-5554 on agent lab-host-1`. */
export function describeChange(device: DrainedDevice, style: Style): string {
  const verb = device.drained ? style.yellow('drained') : style.green('enabled');
  const finishing = device.drained && device.batch_id ? ` (finishing batch ${device.batch_id})` : '';
  return `${verb} ${device.name} on agent ${device.agent}${finishing}`;
}

/** `qgjob drain` (`drained`) or `qgjob enable`. */
export async function setDrained(options: DrainOptions, signal: AbortSignal, drained: boolean): Promise<number> {
  const verb = drained ? 'drain' : 'enable';
  const device = flag(options.device);
  const agent = flag(options.agent);
  if (device === undefined && agent === undefined) {
    throw new UsageError(`${verb} needs --device=ID_OR_NAME or --agent=NAME_OR_ID`, {
      hint: `e.g. qgjob ${verb} --device=emulator-5554 --agent=lab-host-1; ${SEE_AGENTS}`,
    });
  }
  const ctx = createContext(options, signal);
  const target = await which(ctx, verb, device, agent);
  const answer: DrainResponse = await ctx.client.setDrained(target, drained).catch((e) => explain(e, verb, target));
  if (ctx.json) {
    printJson(answer);
    return 0;
  }
  for (const d of answer.devices) process.stdout.write(`${describeChange(d, ctx.out)}\n`);
  return 0;
}
