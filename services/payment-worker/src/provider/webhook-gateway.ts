import {
  contracts,
  deliveryOf,
  HEADER,
  MESSAGE_ID_PATTERN,
  propertiesOf,
  settledWithin,
  tracingEnabled,
  type Envelope,
  type HttpRoute,
  type Runtime,
} from '@stockflow/shared';
import { verifyWebhook, WEBHOOK_TOLERANCE_S } from './webhook-signature';

export const WEBHOOK_PATH = '/webhooks/provider';

/**
 * POST /webhooks/provider: turns a provider webhook into a ProviderWebhook message and answers
 * 202 once the broker confirmed it.
 *
 * Anything a stranger can send is checked here, before it costs a publish, a queue slot or a
 * transaction: the signature over the raw bytes and its timestamp (a replay of an old genuine
 * webhook is refused) first, then the body against the ProviderWebhook schema. A refusal is
 * answered (401, 400) and counted, and nothing is published, so a storm of forged POSTs aimed at
 * one order's partition never reaches it. The verified body is forwarded byte for byte with its
 * x-signature (the consumer checks the HMAC again before its transaction); the event id becomes
 * the message id (duplicates collapse in the inbox) and data.orderId the partition key (a
 * webhook queues behind its order's other messages).
 */
export function webhookRoute(rt: Runtime, opts: { secret: string; now?: () => number }): HttpRoute {
  const now = opts.now ?? Date.now;
  const count = (outcome: string) => rt.metrics.webhooks.inc({ outcome });
  return {
    method: 'POST',
    path: WEBHOOK_PATH,
    async handle(req) {
      if (req.body.length > rt.config.maxMessageBytes) {
        count('too_large');
        return reply(413, 'body too large');
      }
      const given = req.headers[HEADER.signature];
      const signature = Array.isArray(given) ? given[0] : given;
      const verdict = verifyWebhook(opts.secret, req.body, signature, { nowS: Math.floor(now() / 1000), toleranceS: WEBHOOK_TOLERANCE_S });
      if (!verdict.ok && !rt.sabotage.trustWebhooks) {
        count(`signature_${verdict.reason}`);
        return reply(401, `signature ${verdict.reason}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(req.body.toString('utf8'));
      } catch {
        count('invalid');
        return reply(400, 'body is not JSON');
      }
      const parsed = contracts.ProviderWebhook.schema.safeParse(json);
      if (!parsed.success) {
        count('invalid');
        const issue = parsed.error.issues[0];
        return reply(400, `invalid webhook: ${issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'schema'}`);
      }
      const { id, data } = parsed.data;
      if (!MESSAGE_ID_PATTERN.test(id)) {
        count('invalid');
        return reply(400, 'unusable event id');
      }
      const envelope: Envelope = {
        messageId: id,
        type: 'ProviderWebhook',
        version: contracts.ProviderWebhook.version,
        occurredAt: new Date(now()).toISOString(),
        correlationId: `order-${data.orderId}`.slice(0, 200),
        partitionKey: data.orderId,
      };
      const route = deliveryOf(rt.topology, 'ProviderWebhook', data.orderId);
      const traceParent = await chargeTraceParent(rt, data.orderId);
      try {
        await rt.publisher.publish(route.exchange, route.routingKey, req.body, {
          ...propertiesOf(envelope, { ...(signature === undefined ? {} : { [HEADER.signature]: signature }), ...(traceParent ? { traceparent: traceParent } : {}) }),
          mandatory: route.mandatory,
        });
      } catch (err) {
        rt.log.warn({ err: (err as Error).message, eventId: id }, 'webhook not accepted: publish failed');
        count('unavailable');
        // The provider retries webhooks it did not get a 2xx for.
        return reply(503, 'try again');
      }
      count('accepted');
      return reply(202, 'accepted', id);
    },
  };
}

/** A webhook never waits longer than this for the trace it continues. */
const TRACE_LOOKUP_MS = 250;

/**
 * The trace of the order's charge, which the webhook continues. Tracing only: skipped when no
 * SDK traces, and when the look-up fails or is slow the webhook goes out without it.
 */
async function chargeTraceParent(rt: Runtime, orderId: string): Promise<string | undefined> {
  if (!tracingEnabled()) return undefined;
  const lookup = rt.db.query<{ trace_parent: string | null }>('SELECT trace_parent FROM payments.payment WHERE order_id = $1', [orderId]);
  lookup.catch((err: unknown) => rt.log.debug({ err: (err as Error).message, orderId }, 'webhook: no trace parent (look-up failed)'));
  if (!(await settledWithin(lookup, TRACE_LOOKUP_MS))) return undefined;
  return (await lookup.catch(() => []))[0]?.trace_parent ?? undefined;
}

function reply(status: number, message: string, eventId?: string) {
  return { status, body: JSON.stringify(eventId ? { status: message, eventId } : { error: message }) + '\n' };
}
