import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The currency the provider captured in, beside the amount: a capture in another currency than
 * the order's is refunded in the currency it was taken in, and the saga compares both before it
 * confirms anything. Existing captures were taken in their order's currency. paid_in_full is the
 * same rule as a constraint.
 */
export class OrdersCapturedCurrency1733000000000 implements MigrationInterface {
  name = 'OrdersCapturedCurrency1733000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE orders.orders ADD COLUMN IF NOT EXISTS captured_currency text CHECK (captured_currency ~ '^[A-Z]{3}$')`);
    await q.query(`UPDATE orders.orders SET captured_currency = currency WHERE captured_amount IS NOT NULL AND captured_currency IS NULL`);
    await q.query(`ALTER TABLE orders.orders ADD CONSTRAINT captured_has_currency CHECK ((captured_amount IS NULL) = (captured_currency IS NULL))`);
    // Whatever a handler gets wrong, no order is PAID or CONFIRMED on less (or other) money than
    // its total. NOT VALID: enforced from now on, without failing on rows from before the rule.
    await q.query(`ALTER TABLE orders.orders ADD CONSTRAINT paid_in_full CHECK (status NOT IN ('PAID', 'CONFIRMED') OR (captured_amount = amount AND captured_currency = currency)) NOT VALID`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orders.orders DROP CONSTRAINT paid_in_full');
    await q.query('ALTER TABLE orders.orders DROP CONSTRAINT captured_has_currency');
    await q.query('ALTER TABLE orders.orders DROP COLUMN captured_currency');
  }
}
