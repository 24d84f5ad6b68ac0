import { check, forgedWebhookPrefix, type InvariantName } from '@stockflow/testkit/flood/checker/index';
import { KEY_A, TAG, World } from '@stockflow/testkit/flood/testing/world';

/**
 * A checker that cannot fail is worthless. Against a prepared world in which everything holds,
 * each test breaks one thing the way a bug would and expects the checker to report exactly
 * the invariant that thing violates, naming the offender.
 */
describe('flood checker on a prepared database', () => {
  let world: World;
  beforeEach(async () => {
    world = await World.create();
  });
  afterEach(async () => world?.close());

  async function violated(): Promise<{ names: InvariantName[]; examples: Record<string, string[]> }> {
    const report = await check(world.input());
    const bad = report.invariants.filter((i) => !i.ok);
    return { names: bad.map((i) => i.name), examples: Object.fromEntries(bad.map((i) => [i.name, i.examples])) };
  }

  it('passes a consistent world', async () => {
    const report = await check(world.input());
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.invariants.find((i) => i.name === 'conservation')!.details).toMatchObject({ initial: 200, receipts: 10, shipments: 5, commits: 3, adjustments: -3, expectedTotal: 199, actualTotal: 199 });
  });

  it('1 stock-levels: reserved changed without a reservation or ledger row', async () => {
    await world.sql(`UPDATE inventory.stock SET reserved = reserved + 1 WHERE product_id = 'p-fx-0' AND warehouse_id = 'w-fx-0'`);
    const v = await violated();
    expect(v.names).toEqual(['stock-levels']);
    expect(v.examples['stock-levels']![0]).toContain(`${KEY_A}: reserved=1 ≠ Σ ledger 0; reserved=1 ≠ Σ held reservation lines 0`);
  });

  it('1 stock-levels: on_hand moved between two keys without history (the total is unchanged)', async () => {
    await world.sql(`UPDATE inventory.stock SET on_hand = on_hand + CASE warehouse_id WHEN 'w-fx-0' THEN 1 ELSE -1 END WHERE product_id = 'p-fx-0'`);
    const v = await violated();
    // The per-key sum of events disagrees too: conservation names the same two keys.
    expect(v.names).toEqual(['stock-levels', 'conservation']);
    expect(v.examples['conservation']).toHaveLength(2);
  });

  it('2 conservation: an applied receipt missing from the history of events', async () => {
    expect(world.history.forgetEvent('e-c-fx-0')).toBe(true);
    const v = await violated();
    expect(v.names).toEqual(['conservation']);
    expect(v.examples.conservation![0]).toBe('Σ on_hand=199 ≠ 200 + 0 − 5 − 3 − 3 = 189');
    expect(v.examples.conservation![1]).toBe(`${KEY_A}: on_hand=82, events say 72 (+10)`);
  });

  it('3 exactly-once: a reservation and its release applied a second time (stock nets out)', async () => {
    await world.applyInventoryEffects('c-fx-4', [['A', 0, 2, 'reserve'], ['B', 0, 1, 'reserve']]);
    await world.applyInventoryEffects('c-fx-5', [['A', 0, -2, 'release'], ['B', 0, -1, 'release']]);
    const v = await violated();
    expect(v.names).toEqual(['exactly-once']);
    expect(v.examples['exactly-once']).toEqual(expect.arrayContaining([expect.stringMatching(/^c-fx-4: 4 ledger rows from 2 transaction\(s\), the same key and kind repeated/), expect.stringMatching(/^c-fx-5: 4 ledger rows from 2 transaction/)]));
  });

  it('3 exactly-once: an effect nobody claimed in the inbox', async () => {
    await world.sql(`DELETE FROM inventory.inbox WHERE message_id = 'm-rel-1'`);
    const v = await violated();
    expect(v.names).toEqual(['exactly-once']);
    expect(v.examples['exactly-once']).toEqual(['m-rel-1: 1 rows in inventory.ledger but no inbox claim (an effect nobody deduplicated)']);
  });

  it('4 nothing-lost: a command the broker confirmed that no worker claimed (published, then purged)', async () => {
    world.publish('c-fx-9', 'CancelOrder', 'o-fx-9', 1, { orderId: 'o-fx-9' });
    const v = await violated();
    expect(v.names).toEqual(['nothing-lost']);
    expect(v.examples['nothing-lost']).toEqual([`c-fx-9 (CancelOrder, key o-fx-9, seq 1): confirmed by the broker, not in order-worker's inbox nor in a dead-letter queue`]);
    // The same command in a dead-letter queue is accounted for.
    const report = await check({ ...world.input(), deadLetters: [{ queue: 'x.orders.p01.dead', messageId: 'c-fx-9', type: 'CancelOrder', reason: 'handler_error' }] });
    expect(report.ok).toBe(true);
  });

  it('5 orders: an order left open', async () => {
    await world.sql(`UPDATE orders.orders SET status = 'RESERVED' WHERE id = 'o-fx-1'`);
    const v = await violated();
    expect(v.names).toEqual(['orders']);
    expect(v.examples.orders).toEqual(['o-fx-1: RESERVED after quiescence (stock released, payment failed, hold released)']);
  });

  it('5 orders: a confirmed order whose money the provider gave back', async () => {
    world.provider.charges[0]!.refunded = 300;
    const v = await violated();
    expect(v.names).toEqual(['orders']);
    expect(v.examples.orders![0]).toContain('o-fx-0: CONFIRMED but provider has captured 300 EUR refunded 300');
  });

  it('5 orders: a rejected order whose charge the provider kept', async () => {
    world.provider.charges[1]!.status = 'captured';
    const v = await violated();
    expect(v.names).toEqual(['orders']);
    expect(v.examples.orders).toEqual(['o-fx-1: REJECTED but the provider kept 100 (captured 100 refunded 0)']);
  });

  it('6 per-key-order: two commands of one key applied in the wrong order', async () => {
    await world.sql(`UPDATE inventory.inbox SET seq = CASE message_id WHEN 'c-fx-0' THEN (SELECT seq FROM inventory.inbox WHERE message_id = 'c-fx-1') ELSE (SELECT seq FROM inventory.inbox WHERE message_id = 'c-fx-0') END WHERE message_id IN ('c-fx-0', 'c-fx-1')`);
    const v = await violated();
    expect(v.names).toEqual(['per-key-order']);
    expect(v.examples['per-key-order']).toEqual([expect.stringMatching(new RegExp(`^key ${KEY_A} \\(inventory-worker\\): c-fx-0 seq 2 took effect after c-fx-1 seq 3 \\(tx \\d+ at .* after tx \\d+ at .*\\)$`))]);
  });

  it('6 per-key-order: a restarted publisher numbering a key from 1 again is fine in a new session, and caught in the old one', async () => {
    // A receipt after the publisher restarted: sequence 1 of key A, applied after 2 and 3.
    const restart = async (id: string, session: string) => {
      world.publish(id, 'ReceiveStock', KEY_A, 1, { productId: 'p-fx-0', warehouseId: 'w-fx-0', quantity: 1 }, { session });
      await world.applyInventory(id, 'ReceiveStock', KEY_A, 1, [[{ productId: 'p-fx-0', warehouseId: 'w-fx-0' }, 1, 0, 'receipt', null]], session);
      world.event(`e-${id}`, 'StockReceived', id, { productId: 'p-fx-0', warehouseId: 'w-fx-0', quantity: 1 });
      await world.sql(`UPDATE inventory.stock SET on_hand = on_hand + 1 WHERE product_id = 'p-fx-0' AND warehouse_id = 'w-fx-0'`);
    };
    await restart('c-fx-9', 'restarted');
    expect((await violated()).names).toEqual([]);
    // The same restart without a new session (an upstream that keeps its old one): the
    // numbering is ambiguous, and the checker says so.
    await restart('c-fx-10', '');
    const v = await violated();
    expect(v.names).toEqual(['per-key-order']);
    expect(v.examples['per-key-order']).toEqual([expect.stringMatching(new RegExp(`^key ${KEY_A} \\(inventory-worker\\): c-fx-10 seq 1 took effect after c-fx-2 seq 4`))]);
  });

  it('9 forged-webhooks: a forged webhook that reached the payment worker, though its answer was lost', async () => {
    const id = `${forgedWebhookPrefix(TAG)}1-0`;
    await world.sql(`INSERT INTO payments.inbox (consumer, message_id, type, partition_key) VALUES ('payment-worker', '${id}', 'ProviderWebhook', 'o-fx-0')`);
    const v = await violated();
    expect(v.names).toEqual(['forged-webhooks']);
    expect(v.examples['forged-webhooks']).toEqual([`1 forged webhooks were applied by the payment worker (inbox rows ${forgedWebhookPrefix(TAG)}*)`]);
  });
});
