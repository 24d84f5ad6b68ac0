import type { HandlerMap } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { cancelOrder } from './cancel-order';
import { paymentCaptured } from './payment-captured';
import { paymentFailed } from './payment-failed';
import { paymentRefunded } from './payment-refunded';
import { placeOrder } from './place-order';
import { reservationCommitted } from './reservation-committed';
import { reservationExpired } from './reservation-expired';
import { reservationReleased } from './reservation-released';
import { reservationTransitionRejected } from './reservation-transition-rejected';
import { stockReservationRejected } from './stock-reservation-rejected';
import { stockReserved } from './stock-reserved';

export function orderHandlers(opts: { defaultTtlMs: number }): HandlerMap<OrderUnitOfWork> {
  return {
    PlaceOrder: placeOrder(opts),
    CancelOrder: cancelOrder,
    StockReserved: stockReserved,
    StockReservationRejected: stockReservationRejected,
    ReservationReleased: reservationReleased,
    ReservationCommitted: reservationCommitted,
    ReservationExpired: reservationExpired,
    ReservationTransitionRejected: reservationTransitionRejected,
    PaymentCaptured: paymentCaptured,
    PaymentFailed: paymentFailed,
    PaymentRefunded: paymentRefunded,
  };
}
