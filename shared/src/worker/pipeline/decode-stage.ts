import { decode, type MessageType } from '@stockflow/client/internal';
import { PermanentMessageError } from '../../errors';
import { startMessageSpan } from '../../tracing/message-spans';
import type { Runtime, ServiceDefinition, UnitOfWork, WorkItem } from '../types';
import type { BatchRun, Entry } from './batch-run';
import { handlerOf } from './handler-context';

/**
 * Decodes a batch's deliveries into work items. A delivery that is not a valid message for
 * this service (envelope, size, schema, unknown type, the handler's check()) is dead-lettered
 * with its reason and drops out. Undefined: the batch was abandoned while dead-lettering.
 */
export async function decodeBatch<U extends UnitOfWork>(run: BatchRun, def: ServiceDefinition<U>, rt: Runtime): Promise<Entry[] | undefined> {
  const entries: Entry[] = [];
  for (const d of run.deliveries) {
    if (d.msg.fields.redelivered) rt.metrics.redeliveries.inc();
    try {
      const decoded = decode(d.msg, rt.config.maxMessageBytes);
      if (!def.handlers[decoded.envelope.type as MessageType]) {
        throw new PermanentMessageError('unknown_type', `${def.name} has no handler for ${decoded.envelope.type}`);
      }
      const span = startMessageSpan(decoded.envelope, decoded.headers, def.name, run.partition);
      run.spans.push(span);
      const item: WorkItem = { envelope: decoded.envelope, payload: decoded.payload, raw: decoded.raw, headers: decoded.headers, fingerprint: decoded.fingerprint, earlierFingerprints: decoded.earlierFingerprints, span };
      handlerOf(def, item.envelope).check?.(item);
      entries.push({ d, item });
    } catch (err) {
      const reason = err instanceof PermanentMessageError ? err.reason : 'invalid_envelope';
      if (!(await run.deadLetter(d, reason, (err as Error).message))) return undefined;
    }
  }
  return entries;
}
