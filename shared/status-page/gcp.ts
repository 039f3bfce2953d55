/**
 * The deployed status page's dependencies: the function instance's engine (read-only use), the
 * backfill dead-letter subscription, the backfill topic, and the operators from the config.
 * Created once per instance.
 */
import { gcpAuditDeps } from '../runtime/gcp.ts';
import { createStatusPageHandler } from './handler.ts';

let handler: ReturnType<typeof createStatusPageHandler> | undefined;

export function gcpStatusPageHandler(): ReturnType<typeof createStatusPageHandler> {
  if (handler) return handler;
  const deps = gcpAuditDeps();
  const { config } = deps;
  handler = createStatusPageHandler({
    status: deps,
    log: deps.log,
    // Peeks only: the messages are handed back (ack deadline 0) and stay for `tidemark dlq`.
    // gRPC Pub/Sub is most of a bundle: imported on the first read of the page only.
    deadLetters: async () =>
      (await (await import('../runtime/gcp-dlq.ts')).pullDeadLetters(config, { replay: false, max: 100 })).messages.map(
        (m) => ({ id: m.messageId, data: m.data, attempts: m.attempts, published: m.published }),
      ),
    publishBackfills: async (messages) => {
      for (let i = 0; i < messages.length; i += 500)
        await deps.bus.publish(config.topics.backfill, messages.slice(i, i + 500), { origin: 'status-page' });
    },
    access: { mode: 'deployed', operators: config.statusPage?.operators ?? [] },
  });
  return handler;
}
