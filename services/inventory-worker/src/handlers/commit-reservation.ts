import type { Handler } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { closeReservation, isOverdue, outcome, refuseTransition } from './reservation-state';

/**
 * Held → committed: the goods leave (on_hand and reserved both drop). A hold already past
 * expires_at is expired here and the commit refused, so "expired" means the same thing
 * whichever of the expiry and the commit is processed first.
 */
export function commitReservation(opts: { schedule: ExpirySchedule }): Handler<InventoryUnitOfWork, 'CommitReservation'> {
  return {
    type: 'CommitReservation',
    declare: (uow, p) => uow.needReservation(p.reservationId),
    async handle(ctx, p) {
      const r = ctx.uow.reservation(p.reservationId);
      if (r && isOverdue(r, ctx.now)) {
        ctx.emit('ReservationExpired', outcome(r, closeReservation(ctx, r, 'expired', opts.schedule)));
        return refuseTransition(ctx, p.reservationId, r, 'commit');
      }
      if (!r || r.status !== 'held') return refuseTransition(ctx, p.reservationId, r, 'commit');
      ctx.emit('ReservationCommitted', outcome(r, closeReservation(ctx, r, 'committed', opts.schedule)));
    },
  };
}
