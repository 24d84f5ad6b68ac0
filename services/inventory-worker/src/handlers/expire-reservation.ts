import type { Handler } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { closeReservation, isOverdue, outcome, refuseTransition } from './reservation-state';

/**
 * Sent by the scheduler or the sweep; idempotent by state, not by message id (every expiry
 * attempt is a new message). A hold that is not due yet (clock skew, early timer) is put back
 * on the schedule and nothing else happens.
 */
export function expireReservation(opts: { schedule: ExpirySchedule }): Handler<InventoryUnitOfWork, 'ExpireReservation'> {
  return {
    type: 'ExpireReservation',
    declare: (uow, p) => uow.needReservation(p.reservationId),
    async handle(ctx, p) {
      const r = ctx.uow.reservation(p.reservationId);
      if (r?.status === 'held' && !isOverdue(r, ctx.now)) {
        const at = r.expiresAt;
        ctx.afterCommit(() => opts.schedule.add(r.id, at));
        return;
      }
      if (!r || r.status !== 'held') return refuseTransition(ctx, p.reservationId, r, 'expire');
      ctx.emit('ReservationExpired', outcome(r, closeReservation(ctx, r, 'expired', opts.schedule)));
    },
  };
}
