import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { History, type PublishRecord } from '../history/history';
import type { ProviderLedgerSnapshot } from '../provider/provider-handle';
import { adminQuery, dropDatabase, withDatabase } from '../../support/template-db';
import { LOCAL_DEFAULTS } from '../../support/local-services';
import type { CheckInput } from '../checker';
import { dbOf } from '../checker';

export const TAG = 'fx';
const A = { productId: 'p-fx-0', warehouseId: 'w-fx-0' };
const B = { productId: 'p-fx-0', warehouseId: 'w-fx-1' };
export const KEY_A = 'p-fx-0:w-fx-0';
export const KEY_B = 'p-fx-0:w-fx-1';

/**
 * A small, hand-written world in which every invariant holds: what a flood would have left
 * behind (stock, ledger, inbox, reservations, orders, transitions), the history it would have
 * recorded and the provider's ledger. Sabotage tests break one thing in it and expect the
 * checker to name exactly the invariant that thing violates.
 *
 *   key A: 100 initial + 10 received − 5 shipped − 20 transferred to B − 3 committed = 82
 *   key B: 100 initial + 20 transferred from A − 3 adjusted                          = 117
 *   r-fx-0 held 2 on A and 1 on B, then released; o-fx-0 CONFIRMED (3 of A, paid 300);
 *   o-fx-1 REJECTED after a declined payment (its hold of 1 on A released).
 */
export class World {
  readonly history = new History();
  provider: ProviderLedgerSnapshot = { charges: [], refunds: [] };
  private i = 0;

  private constructor(
    readonly pool: Pool,
    private readonly database: string,
    private readonly serverUrl: string,
  ) {}

  static async create(): Promise<World> {
    const template = process.env.STOCKFLOW_TEST_TEMPLATE;
    if (!template) throw new Error('STOCKFLOW_TEST_TEMPLATE missing: run through jest');
    const serverUrl = process.env.DATABASE_URL ?? LOCAL_DEFAULTS.DATABASE_URL;
    const database = `sf_t_checker_${randomBytes(3).toString('hex')}`;
    await adminQuery(serverUrl, `CREATE DATABASE "${database}" TEMPLATE "${template}"`);
    const pool = new Pool({ connectionString: withDatabase(serverUrl, database), max: 2 });
    pool.on('error', () => undefined);
    const world = new World(pool, database, serverUrl);
    try {
      await world.build();
    } catch (err) {
      // The test's afterEach never gets this world to close: drop its database here.
      await world.close().catch(() => undefined);
      throw err;
    }
    return world;
  }

  input(): CheckInput {
    return { tag: TAG, history: this.history, deadLetters: [], provider: this.provider, db: dbOf(this.pool) };
  }

  async sql(text: string, params: unknown[] = []): Promise<void> {
    await this.pool.query(text, params);
  }

  async close(): Promise<void> {
    try {
      await this.pool.end();
    } finally {
      await dropDatabase(this.serverUrl, this.database);
    }
  }

  /** A confirmed publish in the history. */
  publish(id: string, type: string, key: string, sequence: number, payload: unknown, extra: Partial<PublishRecord> = {}): void {
    const t = Date.now();
    this.history.recordPublish({ i: this.i++, id, type, key, sequence, session: '', dup: false, t, confirmedAt: t, attempts: 1, payload, ...extra });
  }

  event(id: string, type: string, cause: string, payload: Record<string, unknown>): void {
    this.history.recordEvent({ id, type, cause, t: Date.now(), payload });
  }

  /** One message applied: its inbox claim and ledger rows, in one transaction (one xmin). */
  async applyInventory(messageId: string, type: string, key: string, sequence: number | null, ledger: [typeof A, number, number, string, string | null][], session = ''): Promise<void> {
    const rows = ledger.map((_, n) => `($${n * 6 + 1}, $${n * 6 + 2}, $${n * 6 + 3}::int, $${n * 6 + 4}::int, $${n * 6 + 5}, $${n * 6 + 6}, '${messageId}')`).join(', ');
    const params = ledger.flatMap(([k, dOn, dRes, kind, res]) => [k.productId, k.warehouseId, dOn, dRes, kind, res]);
    const ledgerSql = ledger.length > 0 ? `, l AS (INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, reservation_id, message_id) VALUES ${rows} RETURNING 1)` : '';
    await this.sql(
      `WITH i AS (INSERT INTO inventory.inbox (consumer, message_id, type, partition_key, sequence, sequence_session) VALUES ('inventory-worker', '${messageId}', '${type}', '${key}', ${sequence ?? 'NULL'}, '${session}') RETURNING 1)${ledgerSql} SELECT 1`,
      params,
    );
  }

  /** More ledger rows for a message already applied, in a transaction of their own (a second application). */
  async applyInventoryEffects(messageId: string, rows: ['A' | 'B', number, number, string][]): Promise<void> {
    const values = rows.map((_, n) => `($${n * 5 + 1}, $${n * 5 + 2}, $${n * 5 + 3}::int, $${n * 5 + 4}::int, $${n * 5 + 5}, 'r-fx-0', '${messageId}')`).join(', ');
    const params = rows.flatMap(([k, dOn, dRes, kind]) => [(k === 'A' ? A : B).productId, (k === 'A' ? A : B).warehouseId, dOn, dRes, kind]);
    await this.sql(`INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, reservation_id, message_id) VALUES ${values}`, params);
  }

  async applyOrder(messageId: string, type: string, orderId: string, sequence: number | null, from: string | null, to: string | null): Promise<void> {
    const transition = to ? `, t AS (INSERT INTO orders.order_transition (order_id, from_status, to_status, message_id, message_type) VALUES ('${orderId}', ${from ? `'${from}'` : 'NULL'}, '${to}', '${messageId}', '${type}') RETURNING 1)` : '';
    await this.sql(`WITH i AS (INSERT INTO orders.inbox (consumer, message_id, type, partition_key, sequence) VALUES ('order-worker', '${messageId}', '${type}', '${orderId}', ${sequence ?? 'NULL'}) RETURNING 1)${transition} SELECT 1`);
  }

  private async build(): Promise<void> {
    await this.sql(`INSERT INTO inventory.warehouse (id, name) VALUES ('w-fx-0', 'zero'), ('w-fx-1', 'one')`);
    this.publish('c-fx-w0', 'RegisterWarehouse', 'warehouse:w-fx-0', 1, { warehouseId: 'w-fx-0', name: 'zero' }, { setup: true });
    this.publish('c-fx-w1', 'RegisterWarehouse', 'warehouse:w-fx-1', 1, { warehouseId: 'w-fx-1', name: 'one' }, { setup: true });
    await this.applyInventory('c-fx-w0', 'RegisterWarehouse', 'warehouse:w-fx-0', 1, []);
    await this.applyInventory('c-fx-w1', 'RegisterWarehouse', 'warehouse:w-fx-1', 1, []);

    // Initial stock (setup) and the moves, each with its event.
    for (const [id, k, key] of [['c-fx-s0', A, KEY_A], ['c-fx-s1', B, KEY_B]] as const) {
      this.publish(id, 'ReceiveStock', key, 1, { ...k, quantity: 100 }, { setup: true });
      await this.applyInventory(id, 'ReceiveStock', key, 1, [[k, 100, 0, 'receipt', null]]);
      this.event(`e-${id}`, 'StockReceived', id, { ...k, quantity: 100 });
    }
    this.publish('c-fx-0', 'ReceiveStock', KEY_A, 2, { ...A, quantity: 10 });
    this.history.recordPublish({ i: this.i++, id: 'c-fx-0', type: 'ReceiveStock', key: KEY_A, sequence: 2, session: '', dup: 'concurrent', t: Date.now(), confirmedAt: Date.now(), attempts: 1 });
    await this.applyInventory('c-fx-0', 'ReceiveStock', KEY_A, 2, [[A, 10, 0, 'receipt', null]]);
    this.event('e-c-fx-0', 'StockReceived', 'c-fx-0', { ...A, quantity: 10 });

    this.publish('c-fx-1', 'ShipStock', KEY_A, 3, { ...A, quantity: 5 });
    await this.applyInventory('c-fx-1', 'ShipStock', KEY_A, 3, [[A, -5, 0, 'shipment', null]]);
    this.event('e-c-fx-1', 'StockShipped', 'c-fx-1', { ...A, quantity: 5 });

    this.publish('c-fx-2', 'TransferStock', KEY_A, 4, { productId: 'p-fx-0', fromWarehouseId: 'w-fx-0', toWarehouseId: 'w-fx-1', quantity: 20 });
    await this.applyInventory('c-fx-2', 'TransferStock', KEY_A, 4, [[A, -20, 0, 'transfer_out', null], [B, 20, 0, 'transfer_in', null]]);
    this.event('e-c-fx-2', 'StockTransferred', 'c-fx-2', { productId: 'p-fx-0', fromWarehouseId: 'w-fx-0', toWarehouseId: 'w-fx-1', quantity: 20 });

    this.publish('c-fx-3', 'AdjustStock', KEY_B, 2, { mode: 'delta', ...B, delta: -3, reason: 'count' });
    await this.applyInventory('c-fx-3', 'AdjustStock', KEY_B, 2, [[B, -3, 0, 'adjustment', null]]);
    this.event('e-c-fx-3', 'StockAdjusted', 'c-fx-3', { ...B, mode: 'delta', delta: -3, reason: 'count' });

    // A direct hold, released.
    this.publish('c-fx-4', 'ReserveStock', 'r-fx-0', 1, { reservationId: 'r-fx-0', lines: [{ ...A, quantity: 2 }, { ...B, quantity: 1 }], ttlMs: 1000 });
    await this.applyInventory('c-fx-4', 'ReserveStock', 'r-fx-0', 1, [[A, 0, 2, 'reserve', 'r-fx-0'], [B, 0, 1, 'reserve', 'r-fx-0']]);
    this.publish('c-fx-5', 'ReleaseReservation', 'r-fx-0', 2, { reservationId: 'r-fx-0' });
    await this.applyInventory('c-fx-5', 'ReleaseReservation', 'r-fx-0', 2, [[A, 0, -2, 'release', 'r-fx-0'], [B, 0, -1, 'release', 'r-fx-0']]);
    await this.sql(`INSERT INTO inventory.reservation (id, lines, status, expires_at) VALUES ('r-fx-0', $1, 'released', now())`, [JSON.stringify([{ ...A, quantity: 2 }, { ...B, quantity: 1 }])]);

    // o-fx-0: placed, reserved, paid, committed, confirmed.
    this.publish('c-fx-6', 'PlaceOrder', 'o-fx-0', 1, { orderId: 'o-fx-0', customerId: 'c', currency: 'EUR', lines: [{ ...A, quantity: 3, unitPrice: 100 }] });
    await this.applyOrder('c-fx-6', 'PlaceOrder', 'o-fx-0', 1, null, 'PENDING');
    await this.applyInventory('m-res-0', 'ReserveStock', 'o-fx-0', null, [[A, 0, 3, 'reserve', 'o-fx-0']]);
    await this.applyOrder('m-rsv-0', 'StockReserved', 'o-fx-0', null, 'PENDING', 'RESERVED');
    await this.applyOrder('m-cap-0', 'PaymentCaptured', 'o-fx-0', null, 'RESERVED', 'PAID');
    await this.applyInventory('m-com-0', 'CommitReservation', 'o-fx-0', null, [[A, -3, -3, 'commit', 'o-fx-0']]);
    this.event('e-m-com-0', 'ReservationCommitted', 'm-com-0', { reservationId: 'o-fx-0', orderId: 'o-fx-0', lines: [{ ...A, quantity: 3 }] });
    await this.applyOrder('m-cmt-0', 'ReservationCommitted', 'o-fx-0', null, 'PAID', 'CONFIRMED');
    await this.sql(`INSERT INTO inventory.reservation (id, order_id, lines, status, expires_at) VALUES ('o-fx-0', 'o-fx-0', $1, 'committed', now())`, [JSON.stringify([{ ...A, quantity: 3 }])]);
    await this.sql(`INSERT INTO orders.orders (id, customer_id, currency, amount, lines, status, stock_status, payment_status, captured_amount, captured_currency, provider_ref) VALUES ('o-fx-0', 'c', 'EUR', 300, '[]', 'CONFIRMED', 'committed', 'captured', 300, 'EUR', 'ch_0')`);

    // o-fx-1: placed, reserved, payment declined, released, rejected.
    this.publish('c-fx-7', 'PlaceOrder', 'o-fx-1', 1, { orderId: 'o-fx-1', customerId: 'c', currency: 'EUR', lines: [{ ...A, quantity: 1, unitPrice: 100 }] });
    await this.applyOrder('c-fx-7', 'PlaceOrder', 'o-fx-1', 1, null, 'PENDING');
    await this.applyInventory('m-res-1', 'ReserveStock', 'o-fx-1', null, [[A, 0, 1, 'reserve', 'o-fx-1']]);
    await this.applyOrder('m-rsv-1', 'StockReserved', 'o-fx-1', null, 'PENDING', 'RESERVED');
    await this.applyOrder('m-fail-1', 'PaymentFailed', 'o-fx-1', null, 'RESERVED', 'REJECTED');
    await this.applyInventory('m-rel-1', 'ReleaseReservation', 'o-fx-1', null, [[A, 0, -1, 'release', 'o-fx-1']]);
    await this.sql(`INSERT INTO inventory.reservation (id, order_id, lines, status, expires_at) VALUES ('o-fx-1', 'o-fx-1', $1, 'released', now())`, [JSON.stringify([{ ...A, quantity: 1 }])]);
    await this.sql(`INSERT INTO orders.orders (id, customer_id, currency, amount, lines, status, reason, stock_status, payment_status) VALUES ('o-fx-1', 'c', 'EUR', 100, '[]', 'REJECTED', 'payment_failed', 'released', 'failed')`);

    await this.sql(`INSERT INTO inventory.stock (product_id, warehouse_id, on_hand, reserved, version) VALUES ('p-fx-0', 'w-fx-0', 82, 0, 9), ('p-fx-0', 'w-fx-1', 117, 0, 4)`);
    const charge = (orderId: string, amount: number, status: 'captured' | 'failed') => ({ id: `ch_${orderId}`, idempotencyKey: `order-${orderId}-payment`, orderId, amount, currency: 'EUR', status, refunded: 0, createdAt: new Date().toISOString(), requests: 1 });
    this.provider = { charges: [charge('o-fx-0', 300, 'captured'), charge('o-fx-1', 100, 'failed')], refunds: [] };
  }
}
