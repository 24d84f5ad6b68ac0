import { partitionOf, stockKey, type Publisher } from '@stockflow/shared';
import type { TestEnv } from '../support';

export async function registerWarehouses(pub: Publisher, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => pub.send('RegisterWarehouse', { warehouseId: id, name: id }, { messageId: `wh-${id}` })));
}

/** Keys spread over every partition, so a test exercises all partition consumers. */
export function keysOverAllPartitions(count: number, partitions: number, warehouse = 'wh-1'): { productId: string; warehouseId: string }[] {
  const keys: { productId: string; warehouseId: string }[] = [];
  const hit = new Set<number>();
  for (let i = 0; keys.length < count; i++) {
    const productId = `sku-${i}`;
    keys.push({ productId, warehouseId: warehouse });
    hit.add(partitionOf(stockKey(productId, warehouse), partitions));
  }
  if (count >= partitions && hit.size < partitions) throw new Error('keys do not cover all partitions');
  return keys;
}

export async function totals(env: TestEnv): Promise<{ onHand: number; ledgerRows: number; inboxRows: number }> {
  const [s] = await env.query<{ n: string }>('SELECT COALESCE(SUM(on_hand), 0) AS n FROM inventory.stock');
  const [l] = await env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.ledger');
  const [i] = await env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.inbox');
  return { onHand: Number(s!.n), ledgerRows: Number(l!.n), inboxRows: Number(i!.n) };
}
