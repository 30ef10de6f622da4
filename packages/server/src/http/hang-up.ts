/** A signal that aborts when the client hangs up before its answer was written, or the server shuts down. */
import type { FastifyReply } from 'fastify';

export function untilGone(reply: FastifyReply, shutdown: AbortSignal): { signal: AbortSignal; done(): void } {
  const gone = new AbortController();
  const hangUp = () => {
    if (!reply.raw.writableEnded) gone.abort();
  };
  const stop = () => gone.abort();
  reply.raw.once('close', hangUp);
  shutdown.addEventListener('abort', stop, { once: true });
  if (shutdown.aborted) gone.abort();
  return {
    signal: gone.signal,
    done() {
      reply.raw.off('close', hangUp);
      shutdown.removeEventListener('abort', stop);
    },
  };
}
