/** auditGaps's core: an audit request from Cloud Scheduler (or by hand) runs the gap auditor. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { runAudit } from '../core/audit.ts';
import type { AuditDeps, AuditReport } from '../core/audit.ts';
import { decodePubSubEvent, messageJson } from '../events/pubsub-event.ts';
import { parseAuditRequest } from '../events/requests.ts';
import { settleEvent } from './settle-event.ts';
import type { Acknowledged } from './settle-event.ts';

export async function onAuditMessage(deps: AuditDeps, event: CloudEvent<unknown>): Promise<Acknowledged<AuditReport>> {
  return settleEvent(deps.log, { eventId: event.id }, async () => {
    const msg = decodePubSubEvent(event);
    const request = parseAuditRequest(deps.config, messageJson(msg), msg.messageId);
    return runAudit(deps, request);
  });
}
