import type { Handler } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { closeReservation, outcome, refuseTransition } from './reservation-state';

/**
 * Held → released. A release for a reservation that does not exist yet leaves a tombstone
 * (released, no lines), so a ReserveStock arriving after it (reordered upstream) is refused
 * instead of holding stock nobody will release.
 */
export function releaseReservation(opts: { schedule: ExpirySchedule }): Handler<InventoryUnitOfWork, 'ReleaseReservation'> {
  return {
    type: 'ReleaseReservation',
    declare: (uow, p) => uow.needReservation(p.reservationId),
    async handle(ctx, p) {
      const r = ctx.uow.reservation(p.reservationId);
      if (!r) {
        ctx.uow.addReservation({ id: p.reservationId, orderId: null, lines: [], status: 'released', expiresAt: ctx.now });
        refuseTransition(ctx, p.reservationId, undefined, 'release');
        return;
      }
      if (r.status !== 'held') return refuseTransition(ctx, p.reservationId, r, 'release');
      ctx.emit('ReservationReleased', { ...outcome(r, closeReservation(ctx, r, 'released', opts.schedule)), reason: p.reason });
    },
  };
}
