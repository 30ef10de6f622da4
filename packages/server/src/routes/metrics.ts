import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../services/metrics.js';

export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
