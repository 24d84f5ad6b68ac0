import type { HandlerContext, RowLevels } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork, LedgerKind, ReservationRow, ReservationStatus } from '../unit-of-work';
import { levelsOf } from './levels';

/**
 * Closes a held reservation: gives the held quantity back (release, expire) or turns it into
 * a shipment (commit). Each line's ledger row carries the reservation id. Returns the lines' rows'
 * new levels, in line order, for the outcome event (`outcome`). After COMMIT the hold
 * also leaves the Redis schedule: left there, it would send an ExpireReservation when due that
 * could only be refused (one wasted command and event per closed hold).
 */
export function closeReservation(ctx: HandlerContext<InventoryUnitOfWork>, r: ReservationRow, to: Exclude<ReservationStatus, 'held'>, schedule: ExpirySchedule): RowLevels[] {
  const kind: LedgerKind = to === 'committed' ? 'commit' : to === 'expired' ? 'expire' : 'release';
  const levels = r.lines.map((l) => {
    const onHand = to === 'committed' ? -l.quantity : 0;
    return levelsOf(ctx.uow.change(ctx.uow.stock(l.productId, l.warehouseId)!, { onHand, reserved: -l.quantity }, kind, ctx.envelope.messageId, r.id));
  });
  ctx.uow.setReservationStatus(r, to);
  ctx.afterCommit(() => schedule.remove(r.id));
  return levels;
}

/** The deterministic answer to a transition the reservation's state does not allow. */
export function refuseTransition(ctx: HandlerContext<InventoryUnitOfWork>, reservationId: string, r: ReservationRow | undefined, attempted: 'release' | 'commit' | 'expire'): void {
  ctx.emit('ReservationTransitionRejected', {
    reservationId,
    orderId: r?.orderId ?? undefined,
    attempted,
    status: r?.status ?? 'unknown',
  });
}

/** The payload of the event that closed the reservation, with the levels closeReservation returned. */
export function outcome(r: ReservationRow, levels: RowLevels[]) {
  return { reservationId: r.id, orderId: r.orderId ?? undefined, lines: r.lines, levels };
}

/** A held reservation past its expiry is expired by whatever command touches it first. */
export function isOverdue(r: ReservationRow, now: Date): boolean {
  return r.status === 'held' && r.expiresAt.getTime() <= now.getTime();
}
