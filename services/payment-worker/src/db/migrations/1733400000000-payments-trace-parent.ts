import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The W3C traceparent of the message that created a payment (the RequestPayment of its order),
 * so the provider's webhook for that charge, which carries no trace context of ours, continues
 * the order's trace.
 */
export class PaymentsTraceParent1733400000000 implements MigrationInterface {
  name = 'PaymentsTraceParent1733400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE payments.payment ADD COLUMN IF NOT EXISTS trace_parent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE payments.payment DROP COLUMN IF EXISTS trace_parent');
  }
}
