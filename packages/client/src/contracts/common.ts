import { z } from 'zod';

/** Identifiers are part of partition keys joined with ':', so ':' is not allowed inside them. */
export const Id = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an id is 1-64 chars of A-Z a-z 0-9 . _ -');
export const Quantity = z.number().int().positive().max(1_000_000);
export const Reason = z.string().max(200);

export const StockLine = z.strictObject({
  productId: Id,
  warehouseId: Id,
  quantity: Quantity,
});
export type StockLine = z.infer<typeof StockLine>;

export const StockLevels = z.strictObject({
  onHand: z.number().int(),
  reserved: z.number().int(),
  version: z.number().int(),
});

export function stockKey(productId: string, warehouseId: string): string {
  return `${productId}:${warehouseId}`;
}
