import type { Handler, StockLine } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { available, levelsOf } from './levels';

type Reason = 'unknown_warehouse' | 'unknown_item' | 'insufficient_stock';
const PRIORITY: Reason[] = ['unknown_warehouse', 'unknown_item', 'insufficient_stock'];

/**
 * All or nothing over every line: each line's row is locked (sorted with all others in the
 * batch) and checked before any is changed. The reservation id is the business idempotency
 * key: a second ReserveStock for a held reservation answers StockReserved again (with empty
 * levels: it changes no row); for a closed one (or a release that came first) it is refused
 * with reservation_closed.
 */
export function reserveStock(opts: { defaultTtlMs: number; schedule: ExpirySchedule }): Handler<InventoryUnitOfWork, 'ReserveStock'> {
  return {
    type: 'ReserveStock',
    declare: (uow, p) => {
      uow.needReservation(p.reservationId);
      for (const l of p.lines) uow.needStock(l.productId, l.warehouseId);
    },
    async handle(ctx, p) {
      const { uow } = ctx;
      const existing = uow.reservation(p.reservationId);
      if (existing) {
        if (existing.status === 'held') {
          ctx.emit('StockReserved', { reservationId: existing.id, orderId: p.orderId, lines: existing.lines, expiresAt: existing.expiresAt.toISOString(), levels: [] });
        } else {
          ctx.emit('StockReservationRejected', { reservationId: p.reservationId, orderId: p.orderId, reason: 'reservation_closed', lines: p.lines.map((l) => ({ ...l, available: available(uow.existingStock(l.productId, l.warehouseId)) })) });
        }
        return;
      }
      const problems = p.lines.map((l): Reason | undefined => {
        if (!uow.warehouseKnown(l.warehouseId)) return 'unknown_warehouse';
        const row = uow.existingStock(l.productId, l.warehouseId);
        if (!row) return 'unknown_item';
        return available(row) < l.quantity ? 'insufficient_stock' : undefined;
      });
      const reason = PRIORITY.find((r) => problems.includes(r));
      if (reason) {
        ctx.emit('StockReservationRejected', {
          reservationId: p.reservationId,
          orderId: p.orderId,
          reason,
          lines: p.lines.map((l) => ({ ...l, available: available(uow.existingStock(l.productId, l.warehouseId)) })),
        });
        return;
      }
      const lines: StockLine[] = p.lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, quantity: l.quantity }));
      const expiresAt = new Date(ctx.now.getTime() + (p.ttlMs ?? opts.defaultTtlMs));
      const levels = lines.map((l) => levelsOf(uow.change(uow.stock(l.productId, l.warehouseId)!, { onHand: 0, reserved: l.quantity }, 'reserve', ctx.envelope.messageId, p.reservationId)));
      uow.addReservation({ id: p.reservationId, orderId: p.orderId ?? null, lines, status: 'held', expiresAt });
      ctx.emit('StockReserved', { reservationId: p.reservationId, orderId: p.orderId, lines, expiresAt: expiresAt.toISOString(), levels });
      ctx.afterCommit(() => opts.schedule.add(p.reservationId, expiresAt));
    },
  };
}
