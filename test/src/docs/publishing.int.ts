import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { partitionLabel, partitionOf } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';

const EXAMPLE = join(__dirname, '../../../docs/examples/publish-with-amqplib.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const guide = require(EXAMPLE) as { partitionOf(key: string, n: number): number; routingKey(p: number, n: number): string };

/** docs/publishing.md's example, run as written against a real worker. */
describe('publishing from another service (docs/examples/publish-with-amqplib.js)', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it("computes the same partition as stockflow's partitioner", () => {
    for (const n of [1, 4, 16, 150]) {
      for (let i = 0; i < 2000; i++) {
        const key = i % 3 === 0 ? `order-${i}` : `sku-${i}:wh-${i % 7}`;
        expect(guide.partitionOf(key, n)).toBe(partitionOf(key, n));
        expect(guide.routingKey(i % n, n)).toBe(partitionLabel(i % n, n));
      }
    }
    expect(guide.partitionOf('ü:ß', 16)).toBe(partitionOf('ü:ß', 16));
  });

  it('is applied exactly once, even when run twice with the same messageId', async () => {
    env = await TestEnv.create('publishing');
    await startInventory(env);
    const pub = await env.publisher();
    await pub.send('RegisterWarehouse', { warehouseId: 'wh-main', name: 'Main' }, { messageId: 'wh-main' });
    const run = () =>
      promisify(execFile)(process.execPath, [EXAMPLE, 'receipt-PO-117-1', 'sku-42', 'wh-main', '5'], {
        env: { ...process.env, AMQP_URL: env.amqpUrl, STOCKFLOW_NAMESPACE: env.namespace, PARTITIONS: String(env.topology.partitions) },
      });
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.warehouse WHERE id = 'wh-main'`)).toHaveLength(1));
    expect((await run()).stdout).toContain('published receipt-PO-117-1');
    await run();
    await eventually(async () => expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-42'`)).toEqual([{ on_hand: 5 }]));
    await env.waitIdle(20_000, ['inventory']);
    expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-42'`)).toEqual([{ on_hand: 5 }]);
  });
});
