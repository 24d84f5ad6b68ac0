import { partitionLabel, propertiesOf } from '@stockflow/shared';
import { eventually } from '../support';
import { invariantViolations, stockOf } from './invariants';
import { command, InventoryRig, type Command } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

/**
 * What makes a second delivery harmless (the message id, claimed in the
 * inbox in the effect's transaction) and what makes a stale write harmless (the row version
 * an AdjustStock set-to-count must still find).
 */
describe('inventory idempotency and optimistic counts', () => {
  let rig: InventoryRig;
  const P = 8;
  beforeAll(async () => {
    rig = await InventoryRig.start('idempotency', { partitions: P });
    await rig.warehouses(['wh-1', 'wh-2']);
  });
  afterAll(async () => rig?.cleanup());

  /** Five copies on the command's own partition and five on other partitions, all at once. */
  async function tenCopies(c: Command): Promise<void> {
    const { envelope, route, body } = rig.pub.prepare(c.type, c.payload, { messageId: c.messageId });
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => rig.pubs[i % 2]!.send(c.type, c.payload as never, { messageId: c.messageId })),
      ...Array.from({ length: 5 }, (_, i) => rig.pubs[i % 2]!.sendRaw(route.exchange, partitionLabel((route.partition + 1 + i) % P, P), body, propertiesOf(envelope))),
    ]);
  }

  async function ledgerRowsOf(messageIds: string[]): Promise<Map<string, number>> {
    const rows = await rig.env.query<{ message_id: string; n: string }>('SELECT message_id, count(*) AS n FROM inventory.ledger WHERE message_id = ANY($1::text[]) GROUP BY 1', [messageIds]);
    return new Map(rows.map((r) => [r.message_id, Number(r.n)]));
  }

  it('7. duplicate handling: the same command id 10× → one effect; same payload with different ids → each applied', async () => {
    await rig.stockUp([
      { productId: 'sku-d', warehouseId: 'wh-1', quantity: 100 },
      { productId: 'sku-d', warehouseId: 'wh-2', quantity: 100 },
    ]);
    const lines = [
      { productId: 'sku-d', warehouseId: 'wh-1', quantity: 2 },
      { productId: 'sku-d', warehouseId: 'wh-2', quantity: 1 },
    ];
    const once: Command[] = [
      command('ReceiveStock', { productId: 'sku-d', warehouseId: 'wh-1', quantity: 7 }, 'dup-receive'),
      command('ShipStock', { productId: 'sku-d', warehouseId: 'wh-1', quantity: 5 }, 'dup-ship'),
      command('TransferStock', { productId: 'sku-d', fromWarehouseId: 'wh-1', toWarehouseId: 'wh-2', quantity: 4 }, 'dup-transfer'),
      command('AdjustStock', { mode: 'delta', productId: 'sku-d', warehouseId: 'wh-2', delta: -3, reason: 'damaged' }, 'dup-adjust'),
      command('ReserveStock', { reservationId: 'dup-res', lines }, 'dup-reserve'),
    ];
    const handled = async () => (await rig.processed('applied')) + (await rig.processed('duplicate'));
    const before = await handled();
    await Promise.all(once.map(tenCopies));
    const answers = await rig.answers(once.map((c) => c.messageId));
    // Every copy consumed, not only the first answered; whether as applied or as duplicate is
    // what the ledger below tells.
    await eventually(async () => expect((await handled()) - before).toBeGreaterThanOrEqual(10 * once.length), 60_000);
    expect(await ledgerRowsOf(once.map((c) => c.messageId))).toEqual(new Map([['dup-receive', 1], ['dup-ship', 1], ['dup-transfer', 2], ['dup-adjust', 1], ['dup-reserve', 2]]));
    expect(InventoryRig.outcomes(answers)).toEqual(
      new Map([['dup-receive', ['StockReceived']], ['dup-ship', ['StockShipped']], ['dup-transfer', ['StockTransferred']], ['dup-adjust', ['StockAdjusted']], ['dup-reserve', ['StockReserved']]]),
    );
    // 100 + 7 − 5 − 4 and 100 + 4 − 3, one hold of each line.
    expect(await stockOf(rig.env, 'sku-d', 'wh-1')).toMatchObject({ on_hand: 98, reserved: 2 });
    expect(await stockOf(rig.env, 'sku-d', 'wh-2')).toMatchObject({ on_hand: 101, reserved: 1 });

    // The same payloads, each under ten fresh ids: every one is a new request and applied.
    const again: Command[] = once
      .filter((c) => c.type !== 'ReserveStock')
      .flatMap((c) => Array.from({ length: 10 }, (_, i) => ({ ...c, messageId: `${c.messageId}-new-${i}` })));
    const outcomes = InventoryRig.outcomes(await rig.run(again));
    expect([...outcomes.values()].filter((o) => o.length !== 1 || o[0]!.endsWith('Rejected'))).toEqual([]);
    expect([...(await ledgerRowsOf(again.map((c) => c.messageId))).values()].reduce((a, b) => a + b, 0)).toBe(10 * (1 + 1 + 2 + 1));
    expect(await stockOf(rig.env, 'sku-d', 'wh-1')).toMatchObject({ on_hand: 98 + 10 * (7 - 5 - 4), reserved: 2 });
    expect(await stockOf(rig.env, 'sku-d', 'wh-2')).toMatchObject({ on_hand: 101 + 10 * (4 - 3), reserved: 1 });

    // A ReserveStock carries its own business key: fresh message ids for the same reservation
    // are each answered, with the one hold that exists, and hold nothing more (no row changed:
    // empty levels).
    const sameHold = Array.from({ length: 10 }, (_, i) => command('ReserveStock', { reservationId: 'dup-res', lines }, `dup-reserve-new-${i}`));
    const holdAnswers = await rig.run(sameHold);
    for (const c of sameHold) {
      expect(holdAnswers.get(c.messageId)!.map((e) => [e.type, e.payload.reservationId, e.payload.levels])).toEqual([['StockReserved', 'dup-res', []]]);
    }
    expect(await ledgerRowsOf(sameHold.map((c) => c.messageId))).toEqual(new Map());
    expect(await stockOf(rig.env, 'sku-d', 'wh-1')).toMatchObject({ reserved: 2 });
    expect(await invariantViolations(rig.env)).toEqual([]);
    expect(await rig.deadLetters()).toEqual([]);
  });

  it('8. optimistic set-to-count: two concurrent updates with the same expected version → one wins, the other is rejected with the current version; a retry with the new version succeeds', async () => {
    const products = Array.from({ length: 12 }, (_, i) => `sku-count-${i}`);
    await rig.stockUp(products.map((productId) => ({ productId, warehouseId: 'wh-1', quantity: 10 })));
    for (const p of products) expect(await stockOf(rig.env, p, 'wh-1')).toEqual({ on_hand: 10, reserved: 0, version: 1 });

    // Two counters counted the same shelf from version 1, and both submit at once.
    const counts = [7, 12] as const;
    const set = (p: string, who: 0 | 1, expectedVersion: number, suffix = '') =>
      command('AdjustStock', { mode: 'set', productId: p, warehouseId: 'wh-1', count: counts[who], expectedVersion, reason: `count by clerk ${who}` }, `${p}-clerk-${who}${suffix}`);
    const answers = await rig.run(products.flatMap((p) => [set(p, 0, 1), set(p, 1, 1)]));

    const retries: Command[] = [];
    for (const p of products) {
      const [a, b] = [answers.get(`${p}-clerk-0`)![0]!, answers.get(`${p}-clerk-1`)![0]!];
      const winner = a.type === 'StockAdjusted' ? 0 : 1;
      const [won, lost] = winner === 0 ? [a, b] : [b, a];
      expect(won).toMatchObject({ type: 'StockAdjusted', payload: { mode: 'set', onHand: counts[winner], delta: counts[winner] - 10, version: 2 } });
      expect(lost).toMatchObject({ type: 'StockAdjustmentRejected', payload: { reason: 'version_conflict', currentVersion: 2, onHand: counts[winner], reserved: 0 } });
      const loser = (1 - winner) as 0 | 1;
      retries.push(set(p, loser, lost.payload.currentVersion as number, '-retry'));
    }
    const retried = await rig.run(retries);
    for (const c of retries) {
      expect(retried.get(c.messageId)).toMatchObject([{ type: 'StockAdjusted', payload: { version: 3 } }]);
      const { count } = c.payload as { count: number; productId: string };
      expect(await stockOf(rig.env, (c.payload as { productId: string }).productId, 'wh-1')).toEqual({ on_hand: count, reserved: 0, version: 3 });
    }
    // A retry that is itself stale is refused again, and nothing changes.
    const stale = retries.map((c) => ({ ...c, messageId: `${c.messageId}-stale` }));
    const staleOutcomes = InventoryRig.outcomes(await rig.run(stale));
    expect([...staleOutcomes.values()].every((o) => o.join() === 'StockAdjustmentRejected')).toBe(true);
    const [ledger] = await rig.env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.ledger WHERE product_id LIKE 'sku-count-%' AND kind = 'adjustment'`);
    expect(Number(ledger!.n)).toBe(2 * products.length);
    expect(await invariantViolations(rig.env)).toEqual([]);
  });
});
