/** The Prometheus series of SPEC.md, one registry per job-server. */
import { DEVICE_STATES, OFFLINE_AFTER_MS, TARGETS } from '@qgjob/protocol';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/db.js';
import { devicesByState, queueDepthByTarget } from '../store/stats.js';

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
    help: 'Batches that installed the app on their device (installs that succeeded).',
    registers: [this.registry],
  });
  readonly installFailures = new Counter({
    name: 'qgjob_app_install_failures_total',
    help: 'Installs a batch asked for that failed (each an infrastructure failure of its jobs and of the device).',
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'qgjob_batches_total',
    help: 'Batches leased to devices.',
    registers: [this.registry],
  });

  readonly installsAvoided = new Counter({
    name: 'qgjob_installs_avoided_total',
    help: 'Runs that started on a device already holding their build (no install).',
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'qgjob_queue_wait_seconds',
    help: 'From a job entering the queue to its run starting.',
    labelNames: ['target'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly runDuration = new Histogram({
    name: 'qgjob_run_duration_seconds',
    help: 'How long runs took, by how they ended.',
    labelNames: ['target', 'status'] as const,
    buckets: [0.1, 1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly leaseExpirations = new Counter({
    name: 'qgjob_lease_expirations_total',
    help: 'Batches whose lease expired (agent or host gone) and were taken back.',
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'qgjob_retries_total',
    help: 'Jobs put back in the queue for another run, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly blobUploads = new Counter({
    name: 'qgjob_blob_uploads_total',
    help: 'Blobs (app builds, test bundles, test artifacts) whose bytes an org uploaded; re-uploads of held blobs not counted.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly blobBytes = new Counter({
    name: 'qgjob_blob_uploaded_bytes_total',
    help: 'Bytes of the blobs counted in qgjob_blob_uploads_total.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly browserstackUploads = new Counter({
    name: 'qgjob_browserstack_uploads_total',
    help: 'App builds uploaded to BrowserStack by agents (once per build while the upload is fresh).',
    registers: [this.registry],
  });
  readonly blobsCollected = new Counter({
    name: 'qgjob_blobs_collected_total',
    help: 'Blob files deleted by garbage collection.',
    registers: [this.registry],
  });

  constructor(db: Db) {
    new Gauge({
      name: 'qgjob_devices',
      help: 'Devices per target and state (busy, idle, offline, quarantined, drained).',
      labelNames: ['target', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const target of TARGETS) for (const state of DEVICE_STATES) this.set({ target, state }, 0);
        for (const r of await devicesByState(db, OFFLINE_AFTER_MS)) this.set({ target: r.target, state: r.state }, r.n);
      },
    });
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
