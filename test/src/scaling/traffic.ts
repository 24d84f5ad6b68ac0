import { partitionOf, stockKey, type Publisher } from '@stockflow/shared';
import { eventually, type TestEnv } from '../support';

/** `perPartition` keys on every partition (product ids sku-0, sku-1, … at wh-1). */
export function keysPerPartition(partitions: number, perPartition: number): { productId: string; warehouseId: string }[] {
  const count = new Array<number>(partitions).fill(0);
  const keys: { productId: string; warehouseId: string }[] = [];
  for (let i = 0; keys.length < partitions * perPartition; i++) {
    const p = partitionOf(stockKey(`sku-${i}`, 'wh-1'), partitions);
    if (count[p]! >= perPartition) continue;
    count[p]!++;
    keys.push({ productId: `sku-${i}`, warehouseId: 'wh-1' });
  }
  return keys;
}

/**
 * Registers wh-1 and waits until it is applied: a receipt for a warehouse not yet known is
 * refused (an event, no ledger row), and RegisterWarehouse travels on its own partition.
 */
export async function warehouseReady(env: TestEnv, pub: Publisher): Promise<void> {
  await pub.send('RegisterWarehouse', { warehouseId: 'wh-1', name: 'wh-1' }, { messageId: 'wh-wh-1' });
  await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.warehouse WHERE id = 'wh-1'`)).toHaveLength(1), 30_000);
}

/**
 * Publishes ReceiveStock (quantity 1, ids `<prefix>-<n>`) over keys on every partition, in
 * small confirmed waves, until stopped: traffic that keeps flowing through a whole scaling or
 * shutdown scenario, so every handover happens with deliveries in flight.
 */
export class CommandStream {
  private running = false;
  private loop: Promise<void> | undefined;
  private sent = 0;
  readonly keys: { productId: string; warehouseId: string }[];

  constructor(
    private readonly pub: Publisher,
    readonly prefix: string,
    partitions: number,
    private readonly opts: { wave?: number; pauseMs?: number } = {},
  ) {
    this.keys = keysPerPartition(partitions, 2);
  }

  get published(): number {
    return this.sent;
  }

  start(): this {
    this.running = true;
    this.loop = this.run();
    return this;
  }

  /** Publishes `n` more at once (confirmed), whether or not the stream runs. */
  async burst(n: number): Promise<void> {
    const from = this.sent;
    this.sent += n;
    await Promise.all(
      Array.from({ length: n }, (_, i) => this.pub.send('ReceiveStock', { ...this.keys[(from + i) % this.keys.length]!, quantity: 1 }, { messageId: `${this.prefix}-${from + i}` })),
    );
  }

  /** Stops and returns how many were published (all confirmed by the broker). */
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return this.sent;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.burst(this.opts.wave ?? 10);
      await new Promise((r) => setTimeout(r, this.opts.pauseMs ?? 20));
    }
  }
}

/**
 * Every published command applied exactly once: one inbox row and one ledger row per id, none
 * twice, none missing, and the stock adds up.
 */
export async function expectExactlyOnce(env: TestEnv, prefix: string, published: number, timeoutMs = 90_000): Promise<void> {
  const like = `${prefix}-%`;
  await eventually(async () => {
    const [row] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE $1`, [like]);
    expect(Number(row!.n)).toBe(published);
  }, timeoutMs, 250);
  const [ledger] = await env.query<{ rows: string; ids: string }>(`SELECT count(*) AS rows, count(DISTINCT message_id) AS ids FROM inventory.ledger WHERE message_id LIKE $1`, [like]);
  expect({ rows: Number(ledger!.rows), ids: Number(ledger!.ids) }).toEqual({ rows: published, ids: published });
  const [stock] = await env.query<{ n: string }>(`SELECT COALESCE(SUM(on_hand), 0) AS n FROM inventory.stock`);
  expect(Number(stock!.n)).toBe(published);
}
