import { childMessageId, contracts, type Envelope, type MessageType, propertiesOf } from '@stockflow/client/internal';
import { deliveryOf } from '../../amqp/topology';
import { storedProperties, type OutboxRow } from '../../db/outbox';
import { keyHash } from '../../db/outbox-shards';
import { messageLogger, type Logger } from '../../logger';
import { traceHeaders } from '../../tracing/message-spans';
import type { Handler, HandlerContext, Runtime, ServiceDefinition, UnitOfWork, WorkItem } from '../types';

export type AfterCommit = () => Promise<void> | void;

export function handlerOf<U extends UnitOfWork>(def: ServiceDefinition<U>, env: Envelope): Handler<U> {
  return def.handlers[env.type as MessageType] as unknown as Handler<U>;
}

/**
 * What a handler sees inside the transaction. What it emits or sends becomes an outbox row of
 * this transaction: a child envelope (id derived from the parent's, so a re-run emits the same
 * ids), routed now, validated against its contract (a handler bug fails the message, not a
 * consumer downstream).
 */
export function handlerContext<U extends UnitOfWork>(rt: Runtime, uow: U, item: WorkItem, partition: number, outbox: OutboxRow[], afterCommit: AfterCommit[]): HandlerContext<U> {
  const parent = item.envelope;
  const now = new Date();
  // What a message causes happens when it is handled: one instant for everything it emits.
  let occurredAt: string | undefined;
  let log: Logger | undefined;
  const append = (type: MessageType, payload: unknown) => {
    const parsed = contracts[type].schema.safeParse(payload);
    if (!parsed.success) throw new Error(`handler built an invalid ${type}: ${parsed.error.message}`);
    const partitionKey = contracts[type].partitionKey(payload as never);
    const route = deliveryOf(rt.topology, type, partitionKey);
    const envelope: Envelope = {
      messageId: childMessageId(parent.messageId, outbox.length, rt.identity.token),
      type,
      version: contracts[type].version,
      occurredAt: (occurredAt ??= now.toISOString()),
      correlationId: parent.correlationId,
      causationId: parent.messageId,
      partitionKey,
    };
    outbox.push({
      messageId: envelope.messageId,
      type,
      exchange: route.exchange,
      routingKey: route.routingKey,
      mandatory: route.mandatory,
      properties: storedProperties(propertiesOf(envelope, traceHeaders(item.span))),
      payload: JSON.stringify(payload),
      watchExchange: route.watch?.exchange ?? null,
      watchRoutingKey: route.watch?.routingKey ?? null,
      keyHash: keyHash(partitionKey),
    });
  };
  return {
    uow,
    item,
    envelope: parent,
    now,
    get log() {
      return (log ??= messageLogger(rt.log, { messageId: parent.messageId, type: parent.type, partition, correlationId: parent.correlationId }));
    },
    emit: (type, payload) => append(type, payload),
    send: (type, payload) => append(type, payload),
    afterCommit: (fn) => afterCommit.push(fn),
  };
}
