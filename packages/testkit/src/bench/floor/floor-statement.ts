/**
 * Limit (c)'s one statement per group of stock receipts: everything a worker must make durable
 * for the group, in a single round trip and a single commit (synchronous_commit on).
 *
 * - the inbox claim (`ON CONFLICT DO NOTHING RETURNING`): only fresh ids go on, duplicates are
 *   absorbed here (two copies in one group: the first);
 * - the stock rows, by the group's summed deltas per product+warehouse (a row is created by its
 *   first receipt, as ReceiveStock does);
 * - one ledger row per fresh receipt;
 * - one outbox row per fresh receipt: the outcome event, published after the commit;
 * - the delete of the outbox rows the broker has confirmed since the previous statement.
 *
 * Data-modifying CTEs all see the statement's snapshot, so each step reads what an earlier one
 * returned rather than the tables.
 */
export const FLOOR_STATEMENT = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[]) AS t(message_id, product_id, warehouse_id, quantity, routing_key)
), fresh AS (
  INSERT INTO inventory.inbox (consumer, message_id, type, partition_key)
  SELECT $6, message_id, 'ReceiveStock', product_id || ':' || warehouse_id FROM input
  ON CONFLICT DO NOTHING
  RETURNING message_id
), applied AS (
  SELECT DISTINCT ON (message_id) input.* FROM input JOIN fresh USING (message_id)
), stock AS (
  INSERT INTO inventory.stock AS s (product_id, warehouse_id, on_hand, version)
  SELECT product_id, warehouse_id, sum(quantity), 1 FROM applied GROUP BY product_id, warehouse_id
  ON CONFLICT (product_id, warehouse_id) DO UPDATE
    SET on_hand = s.on_hand + excluded.on_hand, version = s.version + 1, updated_at = now()
  RETURNING product_id, warehouse_id, on_hand, reserved, version
), ledger AS (
  INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, message_id)
  SELECT product_id, warehouse_id, quantity, 0, 'receipt', message_id FROM applied
), outbox AS (
  INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
  SELECT a.message_id || ':outcome', 'StockReceived', $7, a.routing_key, false, '{}',
         json_build_object('productId', a.product_id, 'warehouseId', a.warehouse_id, 'quantity', a.quantity,
                           'onHand', s.on_hand, 'reserved', s.reserved, 'version', s.version)::text
  FROM applied a JOIN stock s USING (product_id, warehouse_id)
  RETURNING id, message_id, routing_key, payload
), confirmed AS (
  DELETE FROM inventory.outbox WHERE id = ANY($8::bigint[])
)
SELECT id, message_id, routing_key, payload FROM outbox`;

export interface Receipt {
  messageId: string;
  productId: string;
  warehouseId: string;
  quantity: number;
  /** Where its outcome event goes on the events exchange. */
  routingKey: string;
}

/** The statement's parameters: the group's receipts as columns, and the confirmed outbox ids. */
export function floorParams(group: readonly Receipt[], consumer: string, eventsExchange: string, confirmed: readonly string[]): unknown[] {
  return [group.map((r) => r.messageId), group.map((r) => r.productId), group.map((r) => r.warehouseId), group.map((r) => r.quantity), group.map((r) => r.routingKey), consumer, eventsExchange, confirmed];
}

/** A fresh receipt's outcome event, as the statement returned it (its outbox id, for the delete). */
export interface OutcomeRow {
  id: string;
  message_id: string;
  routing_key: string;
  payload: string;
}

/** The command's id from its outcome's outbox message id. */
export function causeOf(outcomeMessageId: string): string {
  return outcomeMessageId.slice(0, -':outcome'.length);
}
