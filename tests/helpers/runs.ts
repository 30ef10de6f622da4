/** Runs started straight through the scheduler, for tests that need a job running on a device. */
import type { Batch } from '@qgjob/protocol';
import type { App } from '@qgjob/server';

/**
 * Registers a fresh agent with one emulator, claims the job's group on it and reports the
 * job started: its run is running in the batch returned. `agentToken` is the id of the
 * agent token the agent registers with (tokens mode).
 */
export async function startRun(app: Pick<App, 'scheduler'>, jobId: string, agentToken?: string): Promise<Batch> {
  const name = `host-${Math.random().toString(36).slice(2)}`;
  const registered = await app.scheduler.register({ name, devices: [{ name: 'e1', target: 'emulator' }] }, agentToken);
  const device = registered.devices[0]?.id as string;
  const batch = (await app.scheduler.claim(device, 0, undefined, agentToken)).batch;
  if (!batch) throw new Error(`no batch for job ${jobId}: is it queued?`);
  await app.scheduler.report(batch.id, { events: [{ type: 'start', job_id: jobId }] }, agentToken);
  return batch;
}
