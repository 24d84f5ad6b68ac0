import type { HandlerMap } from '@stockflow/shared';
import type { ProviderClient } from '../provider/provider-client';
import type { PaymentUnitOfWork } from '../unit-of-work';
import { providerWebhook } from './provider-webhook';
import { reconcilePayment } from './reconcile-payment';
import { refundRequested } from './refund-requested';
import { requestPayment } from './request-payment';

export function paymentHandlers(opts: { provider: ProviderClient; webhookSecret: string }): HandlerMap<PaymentUnitOfWork> {
  return {
    RequestPayment: requestPayment(opts.provider),
    ReconcilePayment: reconcilePayment(opts.provider),
    RefundRequested: refundRequested(opts.provider),
    ProviderWebhook: providerWebhook({ secret: opts.webhookSecret, provider: opts.provider }),
  };
}
