import type { ConsumeMessage } from 'amqplib';
import { contracts, examples, HEADER, messageFingerprint, type Envelope } from '../contracts';
import { PermanentMessageError } from '../errors';
import { decode, propertiesOf, sameFingerprint } from './codec';

const MAX = 256 * 1024;

function message(type: keyof typeof contracts, body: unknown, headers: Record<string, unknown> = {}): ConsumeMessage {
  const envelope: Envelope = { messageId: 'm-1', type, version: contracts[type].version, occurredAt: '2026-12-06T10:00:00.000Z', correlationId: 'm-1', partitionKey: 'k' };
  const properties = propertiesOf(envelope);
  return { content: Buffer.from(JSON.stringify(body)), properties: { ...properties, headers: { ...properties.headers, ...headers } }, fields: {} } as unknown as ConsumeMessage;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PermanentMessageError) return `${err.reason}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

describe('decode', () => {
  it('takes x-version and x-sequence only as whole numbers from 1', () => {
    for (const bad of ['2.0', ' 2', '0x2', '2e0', true, 2.5, 0, -1]) {
      expect(refusal(() => decode(message('CancelOrder', examples.CancelOrder, { [HEADER.version]: bad }), MAX))).toMatch(/^invalid_envelope: x-version must be a whole number/);
    }
    for (const bad of ['1e3', ' 7', '1.0', -5, 0]) {
      expect(refusal(() => decode(message('ReceiveStock', examples.ReceiveStock, { [HEADER.sequence]: bad }), MAX))).toMatch(/^invalid_envelope: x-sequence must be a whole number/);
    }
    expect(decode(message('ReceiveStock', examples.ReceiveStock, { [HEADER.sequence]: '42' }), MAX).envelope.sequence).toBe(42);
    expect(decode(message('ReceiveStock', examples.ReceiveStock, { [HEADER.sequence]: Buffer.from('7') }), MAX).envelope.sequence).toBe(7);
  });

  it('gives a webhook delivered again with a field more the same fingerprint', () => {
    const once = decode(message('ProviderWebhook', examples.ProviderWebhook), MAX);
    const again = decode(message('ProviderWebhook', { ...examples.ProviderWebhook, attempt: 2, data: { ...examples.ProviderWebhook.data, livemode: true } }), MAX);
    expect(again.fingerprint).toBe(once.fingerprint);
    const other = decode(message('ProviderWebhook', { ...examples.ProviderWebhook, data: { ...examples.ProviderWebhook.data, amount: 1 } }), MAX);
    expect(other.fingerprint).not.toBe(once.fingerprint);
  });

  it('knows a v1 copy by the fingerprint a v1 worker recorded and by the v2 form', () => {
    const v1Body = { orderId: 'o-1', reason: 'changed my mind' };
    const v1 = decode(message('CancelOrder', v1Body, { [HEADER.version]: 1 }), MAX);
    const v2 = decode(message('CancelOrder', { orderId: 'o-1', reason: 'other', note: 'changed my mind' }), MAX);
    expect(v1.payload).toEqual(v2.payload);
    expect(v1.fingerprint).toBe(v2.fingerprint);
    expect(sameFingerprint(v1, messageFingerprint('CancelOrder', v1Body))).toBe(true);
    expect(sameFingerprint(v2, messageFingerprint('CancelOrder', v1Body))).toBe(false);
  });

  it('reads an inventory event of v1, from before `levels`, as changing no row it names; v2 must have them', () => {
    const { levels: _levels, ...v1Body } = examples.ReservationCommitted;
    expect(decode(message('ReservationCommitted', v1Body, { [HEADER.version]: 1 }), MAX).payload).toEqual({ ...v1Body, levels: [] });
    expect(refusal(() => decode(message('ReservationCommitted', v1Body), MAX))).toMatch(/^invalid_schema: ReservationCommitted v2: levels: /);
    expect(refusal(() => decode(message('ReservationCommitted', examples.ReservationCommitted, { [HEADER.version]: 1 }), MAX))).toMatch(/^invalid_schema: ReservationCommitted v1: /);
  });

  it('reads a v1 StockReceived or StockAdjusted with the levels of the row its own fields name', () => {
    for (const type of ['StockReceived', 'StockAdjusted'] as const) {
      const { levels: _levels, ...v1Body } = examples[type];
      const { productId, warehouseId, onHand, reserved, version } = v1Body;
      expect(decode(message(type, v1Body, { [HEADER.version]: 1 }), MAX).payload).toEqual({ ...v1Body, levels: [{ productId, warehouseId, onHand, reserved, available: onHand - reserved, version }] });
    }
  });
});

describe('propertiesOf', () => {
  it('lets no extra header contradict the envelope', () => {
    const envelope: Envelope = { messageId: 'm-1', type: 'ReceiveStock', version: 1, occurredAt: '2026-12-06T10:00:00.000Z', correlationId: 'm-1', partitionKey: 'sku-1:wh-1' };
    const { headers } = propertiesOf(envelope, { [HEADER.version]: 9, [HEADER.partitionKey]: 'evil', [HEADER.sequence]: 3, [HEADER.causationId]: 'x', 'x-signature': 's' });
    expect(headers).toEqual({ [HEADER.version]: 1, [HEADER.occurredAt]: envelope.occurredAt, [HEADER.partitionKey]: 'sku-1:wh-1', 'x-signature': 's' });
  });
});
