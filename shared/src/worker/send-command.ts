import { type CommandType, contracts, type Envelope, type Payload, propertiesOf } from '@stockflow/client/internal';
import { deliveryOf } from '../amqp/topology';
import type { Runtime } from './types';

/**
 * Publishes a command a worker makes itself (the expiry and pending-charge sweeps) through its
 * confirm channel, straight to the partition queue of the command's key (deliveryOf), so it
 * queues behind that key's other messages like any upstream command.
 */
export async function sendCommand<T extends CommandType>(
  rt: Pick<Runtime, 'topology' | 'publisher'>,
  type: T,
  payload: Payload<T>,
  opts: { messageId: string; correlationId: string; /** W3C traceparent of the trace this command continues. */ traceParent?: string | null },
): Promise<void> {
  const partitionKey = (contracts[type].partitionKey as (p: Payload<T>) => string)(payload);
  const route = deliveryOf(rt.topology, type, partitionKey);
  const envelope: Envelope = { messageId: opts.messageId, type, version: contracts[type].version, occurredAt: new Date().toISOString(), correlationId: opts.correlationId, partitionKey };
  await rt.publisher.publish(route.exchange, route.routingKey, Buffer.from(JSON.stringify(payload)), propertiesOf(envelope, opts.traceParent ? { traceparent: opts.traceParent } : undefined));
}
