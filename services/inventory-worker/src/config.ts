import { commonSettings, integer, loadConfig } from '@stockflow/shared';

export const inventorySettings = {
  ...commonSettings,
  httpPort: integer('HTTP_PORT', 8081, 'Port of /livez, /readyz and /metrics (0 = any free port, -1 = disabled)', { min: -1, max: 65535 }),
  reservationTtlMs: integer('RESERVATION_TTL_MS', 15 * 60_000, 'Default hold time of a reservation when ReserveStock has no ttlMs', { min: 100, max: 7 * 86_400_000 }),
  expiryPollMs: integer('EXPIRY_POLL_MS', 250, 'How often the Redis expiry schedule is checked for due reservations', { min: 10, max: 60_000 }),
  expirySweepMs: integer('EXPIRY_SWEEP_MS', 5_000, 'How often Postgres is swept for overdue held reservations (the safety net when Redis lost its data)', { min: 100, max: 3_600_000 }),
  expirySweepGraceMs: integer('EXPIRY_SWEEP_GRACE_MS', 1_000, 'How overdue a hold must be before the sweep (rather than the Redis schedule) expires it', { min: 0, max: 3_600_000 }),
};

export type InventoryConfig = ReturnType<typeof loadInventoryConfig>;

export function loadInventoryConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(inventorySettings, env);
}
