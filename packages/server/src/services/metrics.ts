/** The Prometheus series of SPEC.md, one registry per job-server. */
import { TARGETS } from '@qgjob/protocol';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Db } from '../db/db.js';
import { queueDepthByTarget } from '../store/stats.js';

export class Metrics {
  readonly registry = new Registry();
  readonly jobsSubmitted = new Counter({
    name: 'qgjob_jobs_submitted_total',
    help: 'Jobs created by submits (deduplicated submits not counted).',
    registers: [this.registry],
  });
  readonly jobsFinished = new Counter({
    name: 'qgjob_jobs_finished_total',
    help: 'Jobs that reached a terminal status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly appInstalls = new Counter({
    name: 'qgjob_app_installs_total',
    help: 'Batches that installed the app on their device.',
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'qgjob_batches_total',
    help: 'Batches leased to devices.',
    registers: [this.registry],
  });

  constructor(db: Db) {
    new Gauge({
      name: 'qgjob_queue_depth',
      help: 'Queued jobs per target.',
      labelNames: ['target'] as const,
      registers: [this.registry],
      async collect() {
        const depth = await queueDepthByTarget(db);
        for (const target of TARGETS) this.set({ target }, depth.get(target) ?? 0);
      },
    });
  }
}
