import { createHash } from 'node:crypto';
import { childMessageId, MESSAGE_ID_PATTERN, messageFingerprint } from './envelope';

describe('childMessageId', () => {
  const key = 'a-service-identity-token';

  it('is the same for the same parent, position and key, and another for another key', () => {
    expect(childMessageId('rs-1', 0, key)).toBe(childMessageId('rs-1', 0, key));
    expect(childMessageId('rs-1', 0, key)).not.toBe(childMessageId('rs-1', 0, 'another-token'));
  });

  it('cannot be computed from the parent id alone (the unkeyed hash an upstream could compute)', () => {
    for (const algorithm of ['sha1', 'sha256']) {
      const unkeyed = createHash(algorithm).update('rs-1#0').digest('hex');
      expect(childMessageId('rs-1', 0, key).replace(/-/g, '').slice(0, 12)).not.toBe(unkeyed.slice(0, 12));
    }
  });

  it('is a name-based UUID that differs per parent and per position', () => {
    const ids = ['a', 'b'].flatMap((p) => [0, 1, 2].map((n) => childMessageId(p, n, key)));
    expect(new Set(ids).size).toBe(6);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(id).toMatch(MESSAGE_ID_PATTERN);
    }
  });
});

describe('messageFingerprint', () => {
  it('tells the same message from another type or payload', () => {
    const p = { productId: 'sku-1', warehouseId: 'wh-1', quantity: 3 };
    expect(messageFingerprint('ReceiveStock', p)).toBe(messageFingerprint('ReceiveStock', { ...p }));
    expect(messageFingerprint('ReceiveStock', p)).not.toBe(messageFingerprint('ShipStock', p));
    expect(messageFingerprint('ReceiveStock', p)).not.toBe(messageFingerprint('ReceiveStock', { ...p, quantity: 4 }));
    expect(messageFingerprint('ReceiveStock', p)).toMatch(/^[0-9a-f]{32}$/);
  });
});
