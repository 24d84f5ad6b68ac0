import { inputsOf } from '@stockflow/shared';
import { ProviderClient } from '../provider/provider-client';
import { paymentHandlers } from '.';

describe('payment handlers', () => {
  it('has a handler for every message routed to payment-worker', () => {
    const provider = new ProviderClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 100, retryBaseMs: 1, retryMaxMs: 1, maxAttempts: 1 });
    const handlers = paymentHandlers({ provider, webhookSecret: 'x'.repeat(16) });
    expect(Object.keys(handlers).sort()).toEqual([...inputsOf('payments')].sort());
  });
});
