import { commonSettings, ConfigError, integer, loadConfig, secret, url } from '@stockflow/shared';

/** Public, so accepted only with STOCKFLOW_ENV=development: every real deployment sets its own WEBHOOK_SECRET. */
export const DEV_WEBHOOK_SECRET = 'stockflow-dev-webhook-secret';

export const paymentSettings = {
  ...commonSettings,
  httpPort: integer('HTTP_PORT', 8083, 'Port of /livez, /readyz, /metrics and POST /webhooks/provider (0 = any free port, -1 = disabled, which also disables the webhook gateway)', { min: -1, max: 65535 }),
  providerUrl: url('PROVIDER_URL', 'http://127.0.0.1:4100', 'Base URL of the payment provider (the simulator listens here by default)', ['http:', 'https:']),
  providerTimeoutMs: integer('PROVIDER_TIMEOUT_MS', 5_000, 'Timeout of one provider HTTP call; a timed-out charge has an unknown outcome and is looked up by idempotency key before it is retried', { min: 50, max: 120_000 }),
  providerRetryBaseMs: integer('PROVIDER_RETRY_BASE_MS', 200, 'First backoff between provider attempts (doubles up to PROVIDER_RETRY_MAX_MS, with jitter)', { min: 1, max: 60_000 }),
  providerRetryMaxMs: integer('PROVIDER_RETRY_MAX_MS', 5_000, 'Longest backoff between provider attempts', { min: 1, max: 600_000 }),
  providerMaxAttempts: integer('PROVIDER_MAX_ATTEMPTS', 5, 'Provider attempts per processing round; after that the message is retried in place (same idempotency key), blocking only its own partition', { min: 1, max: 100 }),
  pendingSweepMs: integer('PENDING_SWEEP_MS', 30_000, 'How often payment-worker looks for charges still pending (asynchronous capture, webhook not come) for longer than PENDING_RECONCILE_AFTER_MS; 0 = never', { min: 0, max: 3_600_000 }),
  pendingReconcileAfterMs: integer('PENDING_RECONCILE_AFTER_MS', 120_000, 'A charge pending this long is looked up at the provider by idempotency key and settled as its webhook would (ReconcilePayment)', { min: 100, max: 86_400_000 }),
  webhookSecret: secret('WEBHOOK_SECRET', DEV_WEBHOOK_SECRET, 'Shared secret of the provider webhooks (HMAC-SHA256 in header x-signature); required, at least 16 characters; the public default only with STOCKFLOW_ENV=development', /^.{16,}$/, 'must be at least 16 characters'),
};

export type PaymentConfig = ReturnType<typeof loadPaymentConfig>;

export function loadPaymentConfig(env: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(paymentSettings, env);
  if (config.providerRetryBaseMs > config.providerRetryMaxMs) {
    throw new ConfigError([`PROVIDER_RETRY_BASE_MS (${config.providerRetryBaseMs}) must not exceed PROVIDER_RETRY_MAX_MS (${config.providerRetryMaxMs})`]);
  }
  return config;
}
