/**
 * The one guard of everything an agent sends about a batch (reports, logs, artifacts,
 * BrowserStack uploads): the batch exists, belongs to the calling agent token (another
 * agent's batch is, to it, not there: 404), and is still leased (else 409: drop it).
 */
import type { Queryable } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import { type BatchRow, findBatch } from '../store/batches.js';

export async function heldBatch(
  q: Queryable,
  batchId: string,
  agentToken: string | undefined,
  how: {
    lock: boolean;
    touch?: boolean;
    /** What an ended batch means for this request, after "no longer leased to this device (state): ". */
    closed: string;
  },
): Promise<BatchRow> {
  const batch = await findBatch(q, batchId, how);
  if (!batch || (agentToken !== undefined && batch.agent_token_id !== agentToken)) {
    throw new NotFoundError('batch', batchId);
  }
  if (batch.state !== 'active') {
    throw new AppError(
      'conflict',
      `batch ${batchId} is no longer leased to this device (${batch.state}): ${how.closed}`,
    );
  }
  return batch;
}
