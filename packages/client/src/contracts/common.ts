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

const { onHand, reserved, version } = StockLevels.shape;
/**
 * One stock row's levels right after a message changed it (available = onHand − reserved). The
 * inventory events that change rows carry one per row changed, in `levels`: a row's entries
 * over all events are its whole history, versions 1, 2, 3 … each once.
 */
export const RowLevels = z.strictObject({ productId: Id, warehouseId: Id, onHand, reserved, available: z.number().int(), version });
export type RowLevels = z.infer<typeof RowLevels>;

export function stockKey(productId: string, warehouseId: string): string {
  return `${productId}:${warehouseId}`;
}

/**
 * A check across fields (or beyond what a type says), with its message also kept as the schema's
 * `x-rules` metadata, so the JSON Schema and docs/messages.md list the rule the check enforces.
 */
export function rule<S extends z.ZodType>(schema: S, check: (value: z.infer<S>) => boolean, message: string): S {
  const rules = [...((schema.meta()?.['x-rules'] as string[] | undefined) ?? []), message];
  return schema.refine(check, message).meta({ ...schema.meta(), 'x-rules': rules });
}
