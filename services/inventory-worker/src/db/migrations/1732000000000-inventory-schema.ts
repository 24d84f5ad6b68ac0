import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MESSAGING_DOWN, messagingTablesSql } from '@stockflow/shared';

/**
 * The inventory schema. The CHECK constraints are the last line of defence: whatever a handler
 * (or a person with psql) does, on_hand can never go negative and reserved never exceeds it.
 */
export class InventorySchema1732000000000 implements MigrationInterface {
  name = 'InventorySchema1732000000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql('inventory')) await q.query(sql);
    await q.query(`CREATE TABLE inventory.warehouse (
      id         text PRIMARY KEY,
      name       text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE TABLE inventory.stock (
      product_id   text    NOT NULL,
      warehouse_id text    NOT NULL REFERENCES inventory.warehouse (id),
      on_hand      integer NOT NULL DEFAULT 0,
      reserved     integer NOT NULL DEFAULT 0,
      version      integer NOT NULL DEFAULT 0,
      updated_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (product_id, warehouse_id),
      CONSTRAINT stock_on_hand_non_negative CHECK (on_hand >= 0),
      CONSTRAINT stock_reserved_within_on_hand CHECK (reserved >= 0 AND reserved <= on_hand)
    )`);
    await q.query(`CREATE TABLE inventory.reservation (
      id         text PRIMARY KEY,
      order_id   text,
      lines      jsonb NOT NULL,
      status     text NOT NULL CHECK (status IN ('held', 'released', 'committed', 'expired')),
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      closed_at  timestamptz
    )`);
    await q.query(`CREATE INDEX reservation_held_by_expiry ON inventory.reservation (expires_at) WHERE status = 'held'`);
    await q.query(`CREATE TABLE inventory.ledger (
      id             bigserial PRIMARY KEY,
      product_id     text    NOT NULL,
      warehouse_id   text    NOT NULL,
      delta_on_hand  integer NOT NULL,
      delta_reserved integer NOT NULL,
      kind           text    NOT NULL CHECK (kind IN ('receipt', 'adjustment', 'transfer_out', 'transfer_in', 'shipment', 'reserve', 'release', 'commit', 'expire')),
      message_id     text    NOT NULL,
      reservation_id text,
      created_at     timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX ledger_by_key ON inventory.ledger (product_id, warehouse_id, id)`);
    await q.query(`CREATE INDEX ledger_by_message ON inventory.ledger (message_id)`);
    // History is append-only: corrections are new rows (AdjustStock), never edits.
    await q.query(`CREATE FUNCTION inventory.ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'inventory.ledger is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation'; END $$`);
    await q.query(`CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON inventory.ledger
      FOR EACH ROW EXECUTE FUNCTION inventory.ledger_is_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE inventory.ledger');
    await q.query('DROP FUNCTION inventory.ledger_is_append_only()');
    await q.query('DROP TABLE inventory.reservation');
    await q.query('DROP TABLE inventory.stock');
    await q.query('DROP TABLE inventory.warehouse');
    for (const sql of MESSAGING_DOWN('inventory')) await q.query(sql);
  }
}
