import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.js';
import { ping } from '../store/health.js';

export function healthRoutes(app: FastifyInstance, db: Db): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await ping(db);
      return { status: 'ready', store: db.kind };
    } catch {
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the database is not reachable' } });
    }
  });
}
