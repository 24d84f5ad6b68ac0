import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The pending-charge sweep reads the oldest pending payments every PENDING_SWEEP_MS. */
export class PaymentsPendingIndex1732201000000 implements MigrationInterface {
  name = 'PaymentsPendingIndex1732201000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS payment_pending_since ON payments.payment (updated_at, order_id) WHERE status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS payments.payment_pending_since');
  }
}
