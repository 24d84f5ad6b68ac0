import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MESSAGING_DOWN, messagingTablesSql } from '@stockflow/shared';

/**
 * The orders schema. Besides the saga status, each order mirrors what it has learnt about its
 * stock hold and its money, and the CHECKs tie them together: whatever a handler gets wrong,
 * no order can be CONFIRMED without a captured payment and a committed reservation, and no
 * refund can be asked for money that was never captured.
 */
export class OrdersSchema1732100000000 implements MigrationInterface {
  name = 'OrdersSchema1732100000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql('orders')) await q.query(sql);
    await q.query(`CREATE TABLE orders.orders (
      id                 text    PRIMARY KEY,
      -- NULL only for a tombstone: a cancel (or a payment) that arrived before its PlaceOrder
      customer_id        text,
      currency           text    CHECK (currency ~ '^[A-Z]{3}$'),
      amount             bigint  NOT NULL DEFAULT 0 CHECK (amount >= 0),
      lines              jsonb   NOT NULL DEFAULT '[]',
      status             text    NOT NULL CHECK (status IN ('PENDING', 'RESERVED', 'PAID', 'CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED')),
      reason             text,
      reservation_ttl_ms integer,
      stock_status       text    NOT NULL DEFAULT 'none' CHECK (stock_status IN ('none', 'requested', 'held', 'committed', 'released', 'expired', 'rejected')),
      payment_status     text    NOT NULL DEFAULT 'none' CHECK (payment_status IN ('none', 'requested', 'captured', 'failed')),
      captured_amount    bigint  CHECK (captured_amount >= 0),
      provider_ref       text,
      refund_status      text    NOT NULL DEFAULT 'none' CHECK (refund_status IN ('none', 'requested', 'refunded')),
      version            integer NOT NULL DEFAULT 0,
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_at         timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT confirmed_is_paid_and_committed CHECK (status <> 'CONFIRMED' OR (payment_status = 'captured' AND stock_status = 'committed')),
      CONSTRAINT paid_is_captured CHECK (status <> 'PAID' OR payment_status = 'captured'),
      CONSTRAINT refund_needs_capture CHECK (refund_status = 'none' OR (payment_status = 'captured' AND captured_amount IS NOT NULL))
    )`);
    await q.query(`CREATE INDEX orders_by_status ON orders.orders (status)`);
    await q.query(`CREATE TABLE orders.order_transition (
      id           bigserial PRIMARY KEY,
      order_id     text NOT NULL,
      from_status  text,
      to_status    text NOT NULL,
      reason       text,
      message_id   text NOT NULL,
      message_type text NOT NULL,
      at           timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX order_transition_by_order ON orders.order_transition (order_id, id)`);
    // The transition log is the saga's history: corrections are new transitions, never edits.
    await q.query(`CREATE FUNCTION orders.transition_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'orders.order_transition is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation'; END $$`);
    await q.query(`CREATE TRIGGER order_transition_append_only BEFORE UPDATE OR DELETE ON orders.order_transition
      FOR EACH ROW EXECUTE FUNCTION orders.transition_is_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE orders.order_transition');
    await q.query('DROP FUNCTION orders.transition_is_append_only()');
    await q.query('DROP TABLE orders.orders');
    for (const sql of MESSAGING_DOWN('orders')) await q.query(sql);
  }
}
