/**
 * The environment a test (or install) process sees: the agent's own, minus every QGJOB_*
 * variable (the token above all: tests are other people's code), plus the batch's facts,
 * so an `appwright.config.ts` can pick the device and the build.
 */
import type { BatchJob } from '@qgjob/protocol';
import type { ExecContext } from './types.js';

export function testEnv(ctx: ExecContext, job?: BatchJob): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('QGJOB_')) env[key] = value;
  }
  const { batch, device } = ctx;
  Object.assign(env, {
    CI: 'true',
    QGJOB_APP_VERSION_ID: batch.app_version_id,
    QGJOB_APP_PATH: ctx.appPath,
    QGJOB_DEVICE: device.name,
    QGJOB_TARGET: device.target,
    QGJOB_ORG_ID: batch.org_id,
    QGJOB_BATCH_ID: batch.id,
  });
  // adb and most Android tooling pick the device from ANDROID_SERIAL.
  if (device.target !== 'browserstack') env.ANDROID_SERIAL = device.name;
  if (job) {
    Object.assign(env, {
      QGJOB_JOB_ID: job.id,
      QGJOB_TEST_PATH: job.test_path,
      QGJOB_ATTEMPT: String(job.attempt),
    });
  }
  return env;
}
