import {
  contracts,
  HEADER,
  isMandatory,
  MESSAGE_ID_PATTERN,
  propertiesOf,
  routeOf,
  type Envelope,
  type HttpRoute,
  type Runtime,
} from '@stockflow/shared';

export const WEBHOOK_PATH = '/webhooks/provider';

/**
 * POST /webhooks/provider: turns a provider webhook into a ProviderWebhook message and answers
 * 202 once the broker confirmed it. The body is forwarded byte for byte with the provider's
 * x-signature header: verification happens in the consumer, inside the transaction that
 * applies the webhook, so there is exactly one place that decides. The gateway only reads
 * what it needs to route: the event id (the message id, so duplicates collapse in the inbox)
 * and data.orderId (the partition key, so a webhook queues behind its order's other messages).
 * Anything it cannot route is answered 400 and never enters the system.
 */
export function webhookRoute(rt: Runtime): HttpRoute {
  return {
    method: 'POST',
    path: WEBHOOK_PATH,
    async handle(req) {
      if (req.body.length > rt.config.maxMessageBytes) return reply(413, 'body too large');
      let parsed: unknown;
      try {
        parsed = JSON.parse(req.body.toString('utf8'));
      } catch {
        return reply(400, 'body is not JSON');
      }
      const id = field(parsed, 'id');
      const orderId = field(field(parsed, 'data'), 'orderId');
      if (typeof id !== 'string' || !MESSAGE_ID_PATTERN.test(id)) return reply(400, 'missing or unusable event id');
      if (typeof orderId !== 'string' || orderId.length === 0) return reply(400, 'missing data.orderId');
      const given = req.headers[HEADER.signature];
      const signature = Array.isArray(given) ? given[0] : given;
      const envelope: Envelope = {
        messageId: id,
        type: 'ProviderWebhook',
        version: contracts.ProviderWebhook.version,
        occurredAt: new Date().toISOString(),
        correlationId: `order-${orderId}`.slice(0, 200),
        partitionKey: orderId,
      };
      const route = routeOf(rt.topology, 'ProviderWebhook', orderId);
      try {
        await rt.publisher.publish(route.exchange, route.routingKey, req.body, {
          // An unsigned webhook is forwarded unsigned: the consumer dead-letters it (bad_signature).
          ...propertiesOf(envelope, signature === undefined ? {} : { [HEADER.signature]: signature }),
          mandatory: isMandatory('ProviderWebhook'),
        });
      } catch (err) {
        rt.log.warn({ err: (err as Error).message, eventId: id }, 'webhook not accepted: publish failed');
        // The provider retries webhooks it did not get a 2xx for.
        return reply(503, 'try again');
      }
      return reply(202, 'accepted', id);
    },
  };
}

function field(v: unknown, name: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[name] : undefined;
}

function reply(status: number, message: string, eventId?: string) {
  return { status, body: JSON.stringify(eventId ? { status: message, eventId } : { error: message }) + '\n' };
}
