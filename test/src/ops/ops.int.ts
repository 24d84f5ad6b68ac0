import type { InventoryUnitOfWork } from '@stockflow/inventory-worker';
import { deadLetterExchange, partitionOf, partitionQueue, PermanentMessageError, propertiesOf, stockKey, type Publisher, type Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import type { DeadLetter } from '@stockflow/ops';
import { ops, opsProcess } from './run-ops';
import type { Health } from '@stockflow/ops';
import type { StatusReport } from '@stockflow/ops';
import { warehouseReady } from '../scaling/traffic';

const P = 4;

/**
 * The ops CLI against real services and a running worker: status, dead-letter listing and
 * replay after a fix (deduplication still applies), inbox purge, and clear errors naming the
 * service that cannot be reached.
 */
describe('ops CLI', () => {
  let env: TestEnv;
  let worker: Worker<InventoryUnitOfWork>;
  let pub: Publisher;
  /** A "bug" in the handler of these ids, fixed by the test before replaying them. */
  const broken = new Set(['fixme-1', 'fixme-2']);
  let bugFixed = false;

  beforeAll(async () => {
    env = await TestEnv.create('ops', { partitions: P });
    worker = await startInventory(env, { INSTANCE_ID: 'ops-inv', BATCH_SIZE: 1 }, {
      testHooks: {
        beforeCommit(items) {
          const bad = items.find((i) => broken.has(i.envelope.messageId) || i.envelope.messageId.startsWith('unfixable-'));
          if (bad && (!bugFixed || bad.envelope.messageId.startsWith('unfixable-'))) throw new PermanentMessageError('handler_error', `simulated bug on ${bad.envelope.messageId}`);
        },
      },
    });
    pub = await env.publisher();
    await warehouseReady(env, pub);
  });
  afterAll(async () => env?.cleanup());

  const stock = async (product: string) => (await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = $1`, [product]))[0]?.on_hand ?? 0;
  const deadList = async () => JSON.parse((await ops(env, ['dlq', 'list', 'inventory-worker', '--json'])).out) as DeadLetter[];

  it('status: owners, active consumers, depths and outbox per worker', async () => {
    const run = await ops(env, ['status', '--json']);
    expect(run).toMatchObject({ code: 1, err: '' });
    const report = JSON.parse(run.out) as StatusReport & { health: Health };
    expect(report).toMatchObject({ namespace: env.namespace, partitions: P, recorded: { state: 'active', targetPartitions: null }, problems: [] });
    const inv = report.workers.find((w) => w.service === 'inventory-worker')!;
    expect(inv.members).toEqual([expect.objectContaining({ instance: 'ops-inv', owned: [0, 1, 2, 3] })]);
    await eventually(async () => {
      const r = JSON.parse((await ops(env, ['status', '--json'])).out) as StatusReport;
      const rows = r.workers.find((w) => w.service === 'inventory-worker')!.partitions;
      expect(rows.map((p) => [p.partition, p.owners, p.active, p.consumers])).toEqual(
        [0, 1, 2, 3].map((p) => [`p0${p}`, ['ops-inv'], 'ops-inv', 1]),
      );
    }, 20_000, 500);
    // Only the inventory worker runs: the deployment is degraded, and says why.
    const health = (JSON.parse((await ops(env, ['status', '--json'])).out) as { health: Health }).health;
    expect(health).toEqual({
      verdict: 'degraded',
      reasons: [`order-worker: no instance owns any of its ${P} partitions (nothing consumes them)`, `payment-worker: no instance owns any of its ${P} partitions (nothing consumes them)`],
    });
    expect(report.workers.map((w) => w.outbox)).toEqual([
      // The only inventory instance owns every partition, so its relay holds every shard.
      expect.objectContaining({ rows: expect.any(Number), parked: 0, relays: [{ holder: expect.stringMatching(/^ops-inv:/), shards: Array.from({ length: P }, (_, i) => i) }] }),
      { rows: 0, oldestAgeS: 0, parked: 0, relays: [] },
      { rows: 0, oldestAgeS: 0, parked: 0, relays: [] },
    ]);

    const text = await opsProcess(env, ['status']);
    expect(text.code).toBe(1);
    expect(text.out.split('\n')[0]).toBe(`degraded: order-worker: no instance owns any of its ${P} partitions (nothing consumes them); payment-worker: no instance owns any of its ${P} partitions (nothing consumes them)`);
    expect(text.out).toContain(`namespace '${env.namespace}': ${P} partitions per worker (recorded in Postgres, active)`);
    expect(text.out).toMatch(/inventory-worker — 1 live instance: ops-inv \(owns 4, lease/);
    expect(text.out).toMatch(new RegExp(`outbox: \\d+ rows waiting \\(oldest [\\d.]+ s\\), 0 parked; relays: ops-inv:[0-9a-f]{8} \\(${P} shards\\)`));
    expect(text.out).toMatch(/order-worker — no live instance/);

    const inventoryOnly = await opsProcess(env, ['status', '--worker', 'inventory']);
    expect(inventoryOnly.code).toBe(0);
    expect(inventoryOnly.out.split('\n')[0]).toBe('healthy');
    expect(inventoryOnly.out).not.toContain('order-worker');
  });

  it('answers --help with exit 0 and an unknown flag or worker with exit 2, touching nothing', async () => {
    const help = await opsProcess(env, ['--help'], { AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    expect(help).toMatchObject({ code: 0 });
    expect(help.out).toMatch(/^stockflow-ops <command>/);
    const flag = await opsProcess(env, ['status', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/^Unknown option '--bogus'/);
    expect((await opsProcess(env, ['status', '--worker', 'shipping'])).err).toMatch(/^--worker shipping: one of inventory, orders, payments/);
    expect((await opsProcess(env, [])).code).toBe(2);
  });

  it('status: says which service is unreachable and shows the rest', async () => {
    const run = await ops(env, ['status'], { REDIS_URL: 'redis://127.0.0.1:1', MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:1/' });
    expect(run.code).toBe(1);
    expect(run.out).toContain('Redis unreachable at redis://127.0.0.1:1');
    expect(run.out).toContain('RabbitMQ management API unreachable at http://127.0.0.1:1');
    // Depths still come from AMQP; unacked and redeliveries are unknown without the API.
    expect(run.out).toMatch(/p00\s+-\s+-\s+0\s+\?\s+1\s+\?\s+0/);
  });

  it('other commands fail with the unreachable service named', async () => {
    expect(await ops(env, ['inbox', 'purge', '--older-than', '7d'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' })).toMatchObject({ code: 1, err: expect.stringContaining('Postgres unreachable at postgres://postgres@127.0.0.1:1/x') });
    expect(await ops(env, ['dlq', 'list', 'inventory'], { AMQP_URL: 'amqp://guest:secret@127.0.0.1:1' })).toMatchObject({ code: 1, err: expect.stringContaining('RabbitMQ unreachable at amqp://guest:***@127.0.0.1:1') });
    expect(await ops(env, ['dlq', 'list', 'nowhere'])).toMatchObject({ code: 1, err: expect.stringContaining("'nowhere' is neither a worker") });
    expect(await ops(env, ['frobnicate'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown command') });
  });

  it('dlq list shows dead letters with their reason and leaves them in place', async () => {
    await pub.send('ReceiveStock', { productId: 'sku-fix', warehouseId: 'wh-1', quantity: 3 }, { messageId: 'fixme-1' });
    await pub.send('ReceiveStock', { productId: 'sku-fix', warehouseId: 'wh-1', quantity: 4 }, { messageId: 'fixme-2' });
    await pub.send('ReceiveStock', { productId: 'sku-fix', warehouseId: 'wh-1', quantity: 5 }, { messageId: 'fine-1' });
    await eventually(async () => expect((await deadList()).map((d) => d.messageId).sort()).toEqual(['fixme-1', 'fixme-2']), 30_000);
    const letters = await deadList();
    expect(letters[0]).toMatchObject({ type: 'ReceiveStock', reason: 'handler_error', partitionKey: 'sku-fix:wh-1', error: expect.stringContaining('simulated bug') });
    expect(await deadList()).toHaveLength(2);
    const text = await ops(env, ['dlq', 'list', letters[0]!.queue]);
    expect(text.out).toMatch(/fixme-1\s+ReceiveStock\s+handler_error/);
    // The management API counts queues every few seconds.
    await eventually(async () => {
      const health = await ops(env, ['status', '--worker', 'inventory']);
      expect([health.code, health.out.split('\n')[0]]).toEqual([1, 'degraded: inventory-worker: 2 dead letters waiting (npm run ops -- dlq list inventory-worker)']);
    }, 20_000, 500);
    expect(await stock('sku-fix')).toBe(5);
  });

  it('dlq replay re-publishes after the fix: selected ids, then the rest; a replayed duplicate changes nothing', async () => {
    bugFixed = true;
    const one = await ops(env, ['dlq', 'replay', 'inventory', '--id', 'fixme-1']);
    expect(one).toMatchObject({ code: 0, out: expect.stringContaining('replayed 1 message(s)') });
    await eventually(async () => expect(await stock('sku-fix')).toBe(8), 30_000);
    expect((await deadList()).map((d) => d.messageId)).toEqual(['fixme-2']);

    const rest = await ops(env, ['dlq', 'replay', 'inventory-worker']);
    expect(rest.code).toBe(0);
    await eventually(async () => expect(await stock('sku-fix')).toBe(12), 30_000);
    expect(await deadList()).toEqual([]);

    // A dead copy of an id that was applied in the meantime: replaying it is a no-op.
    const queue = partitionQueue(env.namespace, 'inventory', partitionOf(stockKey('sku-fix', 'wh-1'), P), P);
    const { envelope, body } = pub.prepare('ReceiveStock', { productId: 'sku-fix', warehouseId: 'wh-1', quantity: 3 }, { messageId: 'fixme-1' });
    const props = propertiesOf(envelope, { 'x-stockflow-reason': 'handler_error' });
    await pub.sendRaw(deadLetterExchange(env.namespace), queue, body, props);
    await eventually(async () => expect(await deadList()).toHaveLength(1), 10_000);
    expect((await ops(env, ['dlq', 'replay', 'inventory', '--id', 'fixme-1', '--id', 'never-seen'])).err).toContain('not found in inventory: never-seen');
    await eventually(async () => expect(await deadList()).toEqual([]), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await stock('sku-fix')).toBe(12);
    const [ledger] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.ledger WHERE message_id = 'fixme-1'`);
    expect(Number(ledger!.n)).toBe(1);
  });

  it('dlq list, replay and discard take filters and a limit; discard needs one (or --all) and has a dry run', async () => {
    for (const [i, q] of [[1, 1], [2, 2]] as const) await pub.send('ReceiveStock', { productId: 'sku-unfixable', warehouseId: 'wh-1', quantity: q }, { messageId: `unfixable-${i}` });
    await eventually(async () => expect((await deadList()).map((d) => d.messageId).sort()).toEqual(['unfixable-1', 'unfixable-2']), 30_000);
    const list = async (...args: string[]) => (JSON.parse((await ops(env, ['dlq', 'list', 'inventory', '--json', ...args])).out) as DeadLetter[]).map((d) => d.messageId).sort();
    expect(await list('--limit', '1')).toHaveLength(1);
    expect(await list('--reason', 'handler_error', '--type', 'ReceiveStock')).toEqual(['unfixable-1', 'unfixable-2']);
    expect(await list('--reason', 'oversized')).toEqual([]);
    expect(await list('--id', 'unfixable-2')).toEqual(['unfixable-2']);
    expect(await ops(env, ['dlq', 'list', 'inventory', '--limit', 'many'])).toMatchObject({ code: 2, err: expect.stringContaining('--limit many') });

    expect(await ops(env, ['dlq', 'discard', 'inventory'])).toMatchObject({ code: 2, err: expect.stringContaining('needs a filter') });
    expect(await ops(env, ['dlq', 'discard', 'inventory', '--id', 'unfixable-1', '--dry-run'])).toMatchObject({ code: 0, out: expect.stringContaining('would discard 1 dead letter(s)') });
    expect(await list()).toEqual(['unfixable-1', 'unfixable-2']);
    expect(await ops(env, ['dlq', 'discard', 'inventory', '--id', 'unfixable-1'])).toMatchObject({ code: 0, out: expect.stringContaining('discarded 1 dead letter(s)') });
    expect(await list()).toEqual(['unfixable-2']);
    expect(await ops(env, ['dlq', 'discard', 'inventory', '--all'])).toMatchObject({ code: 0, out: expect.stringContaining('discarded 1 dead letter(s)') });
    expect(await list()).toEqual([]);
    expect(await stock('sku-unfixable')).toBe(0);
  });

  it('inbox purge --older-than deletes only old rows (with a dry run first)', async () => {
    await env.query(`UPDATE inventory.inbox SET received_at = now() - interval '8 days' WHERE message_id IN ('fixme-1', 'fixme-2')`);
    const dry = await ops(env, ['inbox', 'purge', '--older-than', '7d', '--dry-run']);
    expect(dry.out).toMatch(/inventory-worker\s+2/);
    expect((await env.query(`SELECT 1 FROM inventory.inbox WHERE message_id LIKE 'fixme-%'`)).length).toBe(2);
    const before = Number((await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox`))[0]!.n);
    const run = await ops(env, ['inbox', 'purge', '--older-than', '7d', '--worker', 'inventory']);
    expect(run).toMatchObject({ code: 0 });
    expect(run.out).toMatch(/inventory-worker\s+2/);
    expect(Number((await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox`))[0]!.n)).toBe(before - 2);
    expect(await ops(env, ['inbox', 'purge', '--older-than', 'a week'])).toMatchObject({ code: 1, err: expect.stringContaining("'a week' is not a duration") });
    await worker.stop();
  });
});
