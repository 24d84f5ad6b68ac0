import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MESSAGING_DOWN, messagingTablesSql } from '@stockflow/shared';

/**
 * The payments schema: one payment per order, keyed by the idempotency key the provider sees
 * (so a second row for the same charge is impossible), and every provider webhook event id
 * seen, so a webhook is applied once however many times the provider sends it.
 */
export class PaymentsSchema1732200000000 implements MigrationInterface {
  name = 'PaymentsSchema1732200000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql('payments')) await q.query(sql);
    await q.query(`CREATE TABLE payments.payment (
      order_id        text    PRIMARY KEY,
      idempotency_key text    NOT NULL UNIQUE,
      amount          bigint  NOT NULL CHECK (amount >= 0),
      currency        text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
      status          text    NOT NULL CHECK (status IN ('pending', 'captured', 'failed', 'refunded')),
      provider_ref    text,
      failure_reason  text,
      refund_ref      text,
      -- which path learnt the outcome first: the charge call ('request') or a webhook
      source          text    NOT NULL CHECK (source IN ('request', 'webhook', 'refund')),
      version         integer NOT NULL DEFAULT 0,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT payment_key_is_derived CHECK (idempotency_key = 'order-' || order_id || '-payment'),
      CONSTRAINT settled_has_provider_ref CHECK (status IN ('pending', 'failed') OR provider_ref IS NOT NULL)
    )`);
    await q.query(`CREATE TABLE payments.webhook_event (
      event_id    text PRIMARY KEY,
      type        text NOT NULL,
      order_id    text NOT NULL,
      message_id  text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX webhook_event_by_order ON payments.webhook_event (order_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE payments.webhook_event');
    await q.query('DROP TABLE payments.payment');
    for (const sql of MESSAGING_DOWN('payments')) await q.query(sql);
  }
}
