import { commonSettings, integer, loadConfig } from '@stockflow/shared';

export const orderSettings = {
  ...commonSettings,
  httpPort: integer('HTTP_PORT', 8082, 'Port of /livez, /readyz and /metrics (0 = any free port, -1 = disabled)', { min: -1, max: 65535 }),
  reservationTtlMs: integer('RESERVATION_TTL_MS', 10 * 60_000, 'How long stock is held waiting for payment when PlaceOrder has no reservationTtlMs', { min: 100, max: 7 * 86_400_000 }),
};

export type OrderConfig = ReturnType<typeof loadOrderConfig>;

export function loadOrderConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(orderSettings, env);
}
