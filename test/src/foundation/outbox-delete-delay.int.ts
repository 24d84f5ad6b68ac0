import { Client } from 'pg';
import { BUDGETS, OutboxRelay, PublishError, RetryPolicy, type ConfirmPublisher } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import { registerWarehouses } from './fixtures';

const DELETE = 'DELETE FROM "inventory".outbox';

/**
 * The relay deletes the rows the broker confirmed together, up to OUTBOX_DELETE_DELAY_MS after
 * the oldest was confirmed: below full load one DELETE then covers many transactions' rows. Rows
 * waiting for that DELETE are still in the table, so nothing may read and publish them again.
 */
describe('outbox relay: deferred deletes', () => {
  let env: TestEnv;
  let queries: jest.SpyInstance | undefined;
  afterEach(async () => {
    queries?.mockRestore();
    await env?.cleanup();
  });

  const deletes = () => queries!.mock.calls.filter((c) => String(c[0]).startsWith(DELETE)).length;

  /** Sends `n` ReceiveStock one at a time, each after the previous one's event: one transaction each. */
  async function oneByOne(tag: string, n: number): Promise<void> {
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    for (let i = 0; i < n; i++) {
      await pub.send('ReceiveStock', { productId: `sku-${i}`, warehouseId: 'wh-1', quantity: 1 }, { messageId: `${tag}-${i}` });
      await tap.waitForCount('StockReceived', i + 1);
    }
  }

  it.each([
    { delayMs: 0, check: (n: number, txs: number) => expect(n).toBeGreaterThanOrEqual(txs) },
    { delayMs: 1000, check: (n: number) => expect(n).toBeLessThanOrEqual(3) },
  ])('with OUTBOX_DELETE_DELAY_MS=$delayMs, one DELETE per round or one for many transactions', async ({ delayMs, check }) => {
    env = await TestEnv.create(`outbox-delete-${delayMs}`);
    queries = jest.spyOn(Client.prototype, 'query');
    // No safety-net read (each deletes first) while the transactions come one by one.
    await startInventory(env, { OUTBOX_DELETE_DELAY_MS: delayMs, OUTBOX_POLL_MS: 60_000 });
    const before = deletes();
    await oneByOne('rs', 12);
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 10_000);
    check(deletes() - before, 12);
  });

  it('a table read while confirmed rows wait for their DELETE does not publish them again', async () => {
    env = await TestEnv.create('outbox-delete-read');
    // The safety-net read (rows older than OUTBOX_POLL_MS) runs every 20 ms while confirmed rows
    // would wait 10 s: each read must come after the DELETE of what was published.
    await startInventory(env, { OUTBOX_DELETE_DELAY_MS: 10_000, OUTBOX_POLL_MS: 20 });
    const tap = await env.tap();
    await oneByOne('rr', 8);
    await new Promise((r) => setTimeout(r, 300));
    const ids = tap.events.map((e) => e.messageId);
    expect(ids.length).toBe(1 + 8);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]);
  });

  it('confirmed rows wait out the delay in the table, and a stopping relay deletes them', async () => {
    env = await TestEnv.create('outbox-delete-stop');
    const worker = await startInventory(env, { OUTBOX_DELETE_DELAY_MS: 10_000, OUTBOX_POLL_MS: 60_000 });
    const tap = await env.tap();
    await oneByOne('rw', 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(tap.events).toHaveLength(1 + 5);
    expect(await env.query('SELECT id FROM inventory.outbox')).toHaveLength(1 + 5);
    queries = jest.spyOn(Client.prototype, 'query');
    await worker.stop();
    expect(deletes()).toBe(1);
    expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]);
  });
  it('rows the broker confirmed beside a refused one are deleted and never published again; the refused one is retried, then parked', async () => {
    env = await TestEnv.create('outbox-delete-fail');
    for (const id of ['m-1', 'm-2', 'm-3']) {
      await env.query(
        `INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload) VALUES ($1, 'StockReceived', 'x', 'StockReceived.x', false, '{}', '{}')`,
        [id],
      );
    }
    // The broker confirms m-1 and m-3 and always refuses m-2 (rows of three keys).
    const sent: string[] = [];
    const publisher = {
      publish: (_e: string, _k: string, _b: Buffer, o: { messageId: string }) => {
        sent.push(o.messageId);
        return o.messageId === 'm-2' ? Promise.reject(new PublishError('nack', 'nack')) : Promise.resolve();
      },
    };
    const relay = new OutboxRelay({
      url: env.databaseUrl,
      schema: 'inventory',
      applicationName: 't-delete-fail',
      partitions: env.topology.partitions,
      publisher: publisher as unknown as ConfirmPublisher,
      log: env.log,
      pollMs: 100,
      batch: 100,
      deleteDelayMs: 10_000,
      retryMaxMs: 1000,
      policy: new RetryPolicy(10, 50),
      leaseTtlMs: 5000,
      renewMs: 1000,
    });
    try {
      relay.start();
      await eventually(async () => expect(await env.query<{ message_id: string }>('SELECT message_id, reason, attempts FROM inventory.outbox_parked')).toEqual([{ message_id: 'm-2', reason: expect.stringMatching(/^transient nack/), attempts: BUDGETS.relayPublish.transient }]), 10_000);
      expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]);
      expect(sent.filter((id) => id === 'm-1')).toEqual(['m-1']);
      expect(sent.filter((id) => id === 'm-3')).toEqual(['m-3']);
      expect(sent.filter((id) => id === 'm-2')).toHaveLength(BUDGETS.relayPublish.transient);
    } finally {
      await relay.stop();
    }
  });
});
