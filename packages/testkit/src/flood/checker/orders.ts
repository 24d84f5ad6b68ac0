import { result, type CheckContext, type InvariantResult } from './types';

const TERMINAL = new Set(['CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED']);

interface OrderRow {
  id: string;
  status: string;
  amount: string;
  currency: string | null;
  captured_amount: string | null;
  captured_currency: string | null;
  stock_status: string;
  payment_status: string;
}

/**
 * 5. Orders, against two witnesses the order worker does not control: inventory's
 * reservation (reservationId = orderId) and the provider's own ledger.
 * - every order of the run is terminal;
 * - CONFIRMED ⇔ exactly one charge at the provider, captured, not refunded, of the order's
 *   amount in its currency, and a committed reservation; and the order itself recorded a
 *   capture of exactly its amount and currency;
 * - REJECTED / CANCELLED / EXPIRED ⇒ its reservation is not held and the provider kept no
 *   money for it (captured − refunded = 0);
 * - money kept for an order id the run never confirmed is a violation too;
 * - no reservation of the run (orders' and direct holds) is still held past its expiry.
 */
export async function checkOrders(ctx: CheckContext): Promise<InvariantResult> {
  const orderIds = new Set<string>();
  for (const c of ctx.history.commands()) {
    if ((c.type === 'PlaceOrder' || c.type === 'CancelOrder') && c.payload && typeof (c.payload as { orderId?: unknown }).orderId === 'string') {
      orderIds.add((c.payload as { orderId: string }).orderId);
    }
  }
  const orders = new Map(
    (await ctx.db.query<OrderRow>(`SELECT id, status, amount, currency, captured_amount, captured_currency, stock_status, payment_status FROM orders.orders WHERE id LIKE $1 || '%'`, [ctx.prefix.order])).map((o) => [o.id, o]),
  );
  const reservations = await ctx.db.query<{ id: string; status: string; overdue: boolean; expires_at: Date }>(
    `SELECT id, status, expires_at, (status = 'held' AND expires_at < now() - interval '2 seconds') AS overdue
     FROM inventory.reservation WHERE id LIKE $1 || '%' OR id LIKE $2 || '%'`,
    [ctx.prefix.order, ctx.prefix.reservation],
  );
  const holds = new Map(reservations.map((r) => [r.id, r.status]));
  const appliedOrderCommands = new Set(
    (await ctx.db.query<{ order_id: string }>(
      `SELECT DISTINCT t.order_id FROM orders.order_transition t WHERE t.order_id LIKE $1 || '%'`,
      [ctx.prefix.order],
    )).map((r) => r.order_id),
  );
  const charges = ctx.provider.charges.filter((c) => c.orderId.startsWith(ctx.prefix.order));
  const byOrder = new Map<string, typeof charges>();
  for (const c of charges) byOrder.set(c.orderId, [...(byOrder.get(c.orderId) ?? []), c]);
  const chargesOf = (id: string) => byOrder.get(id) ?? [];
  const net = (id: string) => chargesOf(id).filter((c) => c.status === 'captured').reduce((s, c) => s + c.amount - c.refunded, 0);

  const offenders: string[] = [];
  const byStatus: Record<string, number> = {};
  for (const id of [...orderIds].sort()) {
    const o = orders.get(id);
    if (!o) {
      if (appliedOrderCommands.has(id)) offenders.push(`${id}: transitions recorded but no order row`);
      else if (net(id) !== 0) offenders.push(`${id}: no order (its commands were dead-lettered) but the provider kept ${net(id)}`);
      continue;
    }
    byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
    const hold = holds.get(id) ?? 'none';
    const cs = chargesOf(id);
    if (!TERMINAL.has(o.status)) {
      offenders.push(`${id}: ${o.status} after quiescence (stock ${o.stock_status}, payment ${o.payment_status}, hold ${hold})`);
      continue;
    }
    if (o.status === 'CONFIRMED') {
      const kept = cs.filter((c) => c.status === 'captured' && c.refunded === 0 && c.amount === Number(o.amount) && c.currency === o.currency);
      if (cs.length !== 1 || kept.length !== 1 || hold !== 'committed') {
        offenders.push(`${id}: CONFIRMED but provider has ${cs.map((c) => `${c.status} ${c.amount} ${c.currency} refunded ${c.refunded}`).join(', ') || 'no charge'} (order amount ${o.amount} ${o.currency}), reservation ${hold}`);
      }
      if (Number(o.captured_amount) !== Number(o.amount) || o.captured_currency !== o.currency) {
        offenders.push(`${id}: CONFIRMED on a capture of ${o.captured_amount} ${o.captured_currency}, not its total ${o.amount} ${o.currency}`);
      }
    } else {
      if (hold === 'held') offenders.push(`${id}: ${o.status} but its reservation is still held`);
      if (net(id) !== 0) offenders.push(`${id}: ${o.status} but the provider kept ${net(id)} (${cs.map((c) => `${c.status} ${c.amount} refunded ${c.refunded}`).join(', ')})`);
    }
  }
  for (const id of byOrder.keys()) {
    if (!orderIds.has(id) && net(id) !== 0) offenders.push(`${id}: provider kept ${net(id)} for an order the run never placed`);
  }
  const overdue = reservations.filter((r) => r.overdue);
  for (const r of overdue) offenders.push(`reservation ${r.id}: still held, expired at ${new Date(r.expires_at).toISOString()}`);
  return result('orders', offenders, orderIds.size, { ...byStatus, reservations: reservations.length, charges: charges.length });
}
