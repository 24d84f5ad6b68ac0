import { commandExchange, HEADER, inventory, partitionLabel, partitionOf, propertiesOf, ValidationError } from '@stockflow/shared';
import { eventually } from '../support';
import { invariantViolations, stockOf } from './invariants';
import { command, InventoryRig } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

interface RawCase {
  /** Also the message id, unless `noMessageId`. */
  id: string;
  type: string;
  body: unknown;
  reason: string;
  /** A fragment the x-stockflow-error header must contain, naming what is wrong. */
  mentions: string;
  version?: number;
  noMessageId?: boolean;
}

const good = { productId: 'sku-b', warehouseId: 'wh-1' };

/**
 * What the typed publisher would refuse to build, sent as raw AMQP messages the way a foreign
 * client could. Each must be dead-lettered at once with a stable reason and a message naming
 * the problem, and never reach a transaction.
 */
const RAW: RawCase[] = [
  { id: 'bad-negative-receipt', type: 'ReceiveStock', body: { ...good, quantity: -5 }, reason: 'invalid_schema', mentions: 'quantity' },
  { id: 'bad-zero-shipment', type: 'ShipStock', body: { ...good, quantity: 0 }, reason: 'invalid_schema', mentions: 'quantity' },
  { id: 'bad-fractional-receipt', type: 'ReceiveStock', body: { ...good, quantity: 2.5 }, reason: 'invalid_schema', mentions: 'quantity' },
  { id: 'bad-string-quantity', type: 'ReceiveStock', body: { ...good, quantity: '5' }, reason: 'invalid_schema', mentions: 'quantity' },
  { id: 'bad-zero-line', type: 'ReserveStock', body: { reservationId: 'b-zero', lines: [{ ...good, quantity: 0 }] }, reason: 'invalid_schema', mentions: 'lines.0.quantity' },
  { id: 'bad-no-lines', type: 'ReserveStock', body: { reservationId: 'b-empty', lines: [] }, reason: 'invalid_schema', mentions: 'lines' },
  { id: 'bad-missing-destination', type: 'TransferStock', body: { productId: 'sku-b', fromWarehouseId: 'wh-1', quantity: 1 }, reason: 'invalid_schema', mentions: 'toWarehouseId' },
  { id: 'bad-same-warehouse', type: 'TransferStock', body: { productId: 'sku-b', fromWarehouseId: 'wh-1', toWarehouseId: 'wh-1', quantity: 1 }, reason: 'invalid_schema', mentions: 'must differ' },
  { id: 'bad-zero-delta', type: 'AdjustStock', body: { mode: 'delta', ...good, delta: 0, reason: 'x' }, reason: 'invalid_schema', mentions: 'delta' },
  { id: 'bad-set-without-version', type: 'AdjustStock', body: { mode: 'set', ...good, count: 3, reason: 'x' }, reason: 'invalid_schema', mentions: 'expectedVersion' },
  { id: 'bad-missing-reservation-id', type: 'ReleaseReservation', body: {}, reason: 'invalid_schema', mentions: 'reservationId' },
  { id: 'bad-colon-in-id', type: 'ReceiveStock', body: { productId: 'sku:b', warehouseId: 'wh-1', quantity: 1 }, reason: 'invalid_schema', mentions: 'productId' },
  { id: 'bad-json', type: 'ReceiveStock', body: '{"productId": "sku-b", "quantity": ', reason: 'malformed_json', mentions: 'not JSON' },
  { id: 'bad-unknown-type', type: 'DestroyStock', body: { ...good }, reason: 'unknown_type', mentions: 'DestroyStock' },
  { id: 'bad-foreign-type', type: 'PlaceOrder', body: { orderId: 'o-1', customerId: 'c-1', currency: 'EUR', lines: [{ ...good, quantity: 1, unitPrice: 100 }] }, reason: 'unknown_type', mentions: 'no handler' },
  { id: 'bad-version', type: 'ReceiveStock', body: { ...good, quantity: 1 }, version: 2, reason: 'unsupported_version', mentions: 'v2' },
  { id: 'bad-no-message-id', type: 'ReceiveStock', body: { ...good, quantity: 1, reference: 'bad-no-message-id' }, noMessageId: true, reason: 'invalid_envelope', mentions: 'messageId' },
];

/**
 * Bad input ends in the dead-letter queue (malformed, invalid) or in a
 * rejection event with a clear reason (valid but not possible), and nothing is applied.
 */
describe('inventory bad input', () => {
  let rig: InventoryRig;
  const P = 4;
  beforeAll(async () => {
    rig = await InventoryRig.start('bad-input', { partitions: P });
    await rig.warehouses(['wh-1', 'wh-2']);
    await rig.stockUp([{ ...good, quantity: 5 }]);
    await rig.run([command('ReserveStock', { reservationId: 'b-held', lines: [{ ...good, quantity: 3 }] }, 'reserve-b-held')]);
  });
  afterAll(async () => rig?.cleanup());

  it('12. bad input: negative or zero quantities, unknown warehouse, missing fields → DLQ or a rejection event with a clear reason; nothing applied', async () => {
    const before = await stockOf(rig.env, 'sku-b', 'wh-1');
    expect(before).toEqual({ on_hand: 5, reserved: 3, version: 2 });
    const [ledgerBefore] = await rig.env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.ledger');

    // The typed publisher refuses to build these at all.
    await expect(rig.pub.send('ReceiveStock', { ...good, quantity: -1 })).rejects.toThrow(ValidationError);
    await expect(rig.pub.send('ShipStock', { ...good, quantity: 0 })).rejects.toThrow(/quantity/);
    await expect(rig.pub.send('TransferStock', { productId: 'sku-b', fromWarehouseId: 'wh-1', toWarehouseId: 'wh-1', quantity: 1 })).rejects.toThrow(/must differ/);

    // So a foreign client sends them raw, all at once, spread over every partition.
    const deadBefore = await rig.processed('dead_lettered');
    await Promise.all(
      RAW.map((c, i) => {
        const props = propertiesOf({ messageId: c.id, type: c.type, version: c.version ?? 1, occurredAt: new Date().toISOString(), correlationId: c.id, partitionKey: c.id });
        const { messageId: _omitted, ...withoutId } = props;
        const body = Buffer.from(typeof c.body === 'string' ? c.body : JSON.stringify(c.body));
        const routingKey = partitionLabel(partitionOf(c.id, P), P);
        const properties = c.noMessageId ? { ...withoutId, messageId: undefined as unknown as string } : props;
        return rig.pubs[i % 2]!.sendRaw(commandExchange(rig.env.namespace, 'inventory'), routingKey, body, properties);
      }),
    );

    // And these are well-formed but impossible: each is answered with a rejection and a reason.
    const refused = [
      command('ReceiveStock', { productId: 'sku-b', warehouseId: 'wh-ghost', quantity: 3 }, 'rej-receipt-ghost'),
      command('ShipStock', { productId: 'sku-b', warehouseId: 'wh-ghost', quantity: 1 }, 'rej-ship-ghost'),
      command('ShipStock', { productId: 'sku-never', warehouseId: 'wh-1', quantity: 1 }, 'rej-ship-unknown-item'),
      command('ShipStock', { ...good, quantity: 3 }, 'rej-ship-reserved'),
      command('TransferStock', { productId: 'sku-b', fromWarehouseId: 'wh-1', toWarehouseId: 'wh-ghost', quantity: 1 }, 'rej-transfer-ghost'),
      command('ReserveStock', { reservationId: 'b-ghost', lines: [{ ...good, quantity: 1 }, { productId: 'sku-b', warehouseId: 'wh-ghost', quantity: 1 }] }, 'rej-reserve-ghost'),
      command('ReserveStock', { reservationId: 'b-never', lines: [{ productId: 'sku-never', warehouseId: 'wh-1', quantity: 1 }] }, 'rej-reserve-unknown-item'),
      command('ReserveStock', { reservationId: 'b-too-much', lines: [{ ...good, quantity: 3 }] }, 'rej-reserve-too-much'),
      command('AdjustStock', { mode: 'delta', productId: 'sku-b', warehouseId: 'wh-ghost', delta: 2, reason: 'found' }, 'rej-adjust-ghost'),
      command('AdjustStock', { mode: 'delta', ...good, delta: -4, reason: 'lost' }, 'rej-adjust-below-reserved'),
      command('AdjustStock', { mode: 'set', ...good, count: 2, expectedVersion: 2, reason: 'recount' }, 'rej-set-below-reserved'),
      // Refusals about rows that do not exist yet must not leave an empty row behind either.
      command('TransferStock', { productId: 'sku-never', fromWarehouseId: 'wh-1', toWarehouseId: 'wh-2', quantity: 1 }, 'rej-transfer-unknown-item'),
      command('AdjustStock', { mode: 'delta', productId: 'sku-never', warehouseId: 'wh-1', delta: -2, reason: 'lost' }, 'rej-adjust-new-row'),
      command('AdjustStock', { mode: 'set', productId: 'sku-never', warehouseId: 'wh-2', count: 4, expectedVersion: 3, reason: 'recount' }, 'rej-set-new-row'),
      command('CommitReservation', { reservationId: 'b-nope' }, 'rej-commit-unknown'),
      command('ExpireReservation', { reservationId: 'b-nope' }, 'rej-expire-unknown'),
    ];
    const answers = await rig.run(refused);
    const answer = (id: string) => answers.get(id)!.map((e) => ({ type: e.type, payload: e.payload }));
    expect(answer('rej-receipt-ghost')).toEqual([{ type: 'StockReceiptRejected', payload: { productId: 'sku-b', warehouseId: 'wh-ghost', quantity: 3, reason: 'unknown_warehouse' } }]);
    expect(answer('rej-ship-ghost')).toEqual([{ type: 'StockShipmentRejected', payload: expect.objectContaining({ reason: 'unknown_warehouse', available: 0 }) }]);
    expect(answer('rej-ship-unknown-item')).toEqual([{ type: 'StockShipmentRejected', payload: expect.objectContaining({ reason: 'unknown_item', available: 0 }) }]);
    expect(answer('rej-ship-reserved')).toEqual([{ type: 'StockShipmentRejected', payload: expect.objectContaining({ reason: 'insufficient_stock', quantity: 3, available: 2 }) }]);
    expect(answer('rej-transfer-ghost')).toEqual([{ type: 'StockTransferRejected', payload: expect.objectContaining({ reason: 'unknown_warehouse' }) }]);
    expect(answer('rej-reserve-ghost')).toEqual([
      {
        type: 'StockReservationRejected',
        payload: { reservationId: 'b-ghost', reason: 'unknown_warehouse', lines: [{ ...good, quantity: 1, available: 2 }, { productId: 'sku-b', warehouseId: 'wh-ghost', quantity: 1, available: 0 }] },
      },
    ]);
    expect(answer('rej-reserve-unknown-item')).toEqual([{ type: 'StockReservationRejected', payload: expect.objectContaining({ reason: 'unknown_item' }) }]);
    expect(answer('rej-reserve-too-much')).toEqual([{ type: 'StockReservationRejected', payload: expect.objectContaining({ reason: 'insufficient_stock', lines: [{ ...good, quantity: 3, available: 2 }] }) }]);
    expect(answer('rej-adjust-ghost')).toEqual([{ type: 'StockAdjustmentRejected', payload: expect.objectContaining({ reason: 'unknown_warehouse' }) }]);
    expect(answer('rej-adjust-below-reserved')).toEqual([{ type: 'StockAdjustmentRejected', payload: expect.objectContaining({ reason: 'insufficient_stock', onHand: 5, reserved: 3, currentVersion: 2 }) }]);
    expect(answer('rej-set-below-reserved')).toEqual([{ type: 'StockAdjustmentRejected', payload: expect.objectContaining({ mode: 'set', reason: 'insufficient_stock' }) }]);
    expect(answer('rej-transfer-unknown-item')).toEqual([{ type: 'StockTransferRejected', payload: expect.objectContaining({ reason: 'unknown_item', available: 0 }) }]);
    expect(answer('rej-adjust-new-row')).toEqual([{ type: 'StockAdjustmentRejected', payload: expect.objectContaining({ reason: 'insufficient_stock', onHand: 0 }) }]);
    expect(answer('rej-set-new-row')).toEqual([{ type: 'StockAdjustmentRejected', payload: expect.objectContaining({ reason: 'version_conflict', currentVersion: 0 }) }]);
    expect(answer('rej-commit-unknown')).toEqual([{ type: 'ReservationTransitionRejected', payload: { reservationId: 'b-nope', attempted: 'commit', status: 'unknown' } }]);
    expect(answer('rej-expire-unknown')).toEqual([{ type: 'ReservationTransitionRejected', payload: { reservationId: 'b-nope', attempted: 'expire', status: 'unknown' } }]);

    // Every raw message is in a dead queue, with its reason, its body unchanged and the problem named.
    await eventually(async () => expect((await rig.processed('dead_lettered')) - deadBefore).toBeGreaterThanOrEqual(RAW.length), 60_000);
    const dead = await rig.deadLetters();
    for (const c of RAW) {
      const body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
      const copies = dead.filter((d) => (c.noMessageId ? d.body === body : d.messageId === c.id));
      expect({ id: c.id, copies: copies.length }).toEqual({ id: c.id, copies: 1 });
      const d = copies[0]!;
      expect({ id: c.id, reason: d.headers[HEADER.reason], body: d.body }).toEqual({ id: c.id, reason: c.reason, body });
      expect({ id: c.id, error: String(d.headers[HEADER.error]) }).toEqual({ id: c.id, error: expect.stringContaining(c.mentions) });
    }
    expect(dead).toHaveLength(RAW.length);

    // Nothing applied: the row, the ledger, no stock in unknown places, no dead id in the inbox.
    expect(await stockOf(rig.env, 'sku-b', 'wh-1')).toEqual(before);
    const [ledgerAfter] = await rig.env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.ledger');
    expect(Number(ledgerAfter!.n)).toBe(Number(ledgerBefore!.n));
    expect(await rig.env.query(`SELECT product_id, warehouse_id FROM inventory.stock WHERE warehouse_id = 'wh-ghost' OR product_id = 'sku-never'`)).toEqual([]);
    expect(await rig.env.query(`SELECT id FROM inventory.reservation WHERE id <> 'b-held'`)).toEqual([]);
    expect(await rig.env.query('SELECT message_id FROM inventory.inbox WHERE message_id = ANY($1::text[])', [RAW.map((c) => c.id)])).toEqual([]);
    expect(await invariantViolations(rig.env)).toEqual([]);
  });

  it('a move past the most a row can hold is refused with capacity_exceeded (an event), never dead-lettered', async () => {
    // A row near on_hand's limit, with the ledger row that explains it (invariants hold).
    const full = { productId: 'sku-full', warehouseId: 'wh-1' };
    const near = inventory.MAX_ON_HAND - 10;
    await rig.env.query(`INSERT INTO inventory.stock (product_id, warehouse_id, on_hand, reserved, version) VALUES ($1, $2, $3, 0, 1)`, [full.productId, full.warehouseId, near]);
    await rig.env.query(`INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, message_id) VALUES ($1, $2, $3, 0, 'receipt', 'seed-full')`, [full.productId, full.warehouseId, near]);
    await rig.stockUp([{ productId: 'sku-full', warehouseId: 'wh-2', quantity: 100 }], 'full-source');
    const answers = await rig.run([
      command('ReceiveStock', { ...full, quantity: 11 }, 'full-receipt'),
      command('AdjustStock', { mode: 'delta', ...full, delta: 20, reason: 'found some' }, 'full-adjust'),
      command('TransferStock', { productId: 'sku-full', fromWarehouseId: 'wh-2', toWarehouseId: 'wh-1', quantity: 50 }, 'full-transfer'),
      command('ReceiveStock', { ...full, quantity: 10 }, 'full-to-the-brim'),
    ]);
    const reasonOf = (id: string) => answers.get(id)!.map((e) => [e.type, e.payload.reason]);
    expect(reasonOf('full-receipt')).toEqual([['StockReceiptRejected', 'capacity_exceeded']]);
    expect(reasonOf('full-adjust')).toEqual([['StockAdjustmentRejected', 'capacity_exceeded']]);
    expect(reasonOf('full-transfer')).toEqual([['StockTransferRejected', 'capacity_exceeded']]);
    expect(answers.get('full-to-the-brim')!.map((e) => e.type)).toContain('StockReceived');
    expect(await stockOf(rig.env, 'sku-full', 'wh-1')).toMatchObject({ on_hand: inventory.MAX_ON_HAND });
    expect((await rig.deadLetters()).filter((d) => d.messageId?.startsWith('full-'))).toEqual([]);
    expect(await invariantViolations(rig.env)).toEqual([]);
  });
});
