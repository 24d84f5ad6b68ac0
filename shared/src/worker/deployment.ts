import { ConfigError } from '../errors';

type Query = <R = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<R[]>;

/**
 * The partition count of a deployment (namespace), recorded in Postgres on first start.
 * Publishers and workers must agree on N: a key hashes to another queue under another N, so a
 * worker started with a different PARTITIONS would consume half-empty queues while its keys'
 * messages pile up elsewhere, and per-key order would silently break. Workers therefore refuse
 * to start on a mismatch, and also while `ops repartition` moves messages.
 */
export interface DeploymentRecord {
  namespace: string;
  partitions: number;
  state: 'active' | 'repartitioning';
  /** The count being moved to while state = repartitioning. */
  targetPartitions: number | null;
  /** Where an unfinished repartition stopped (`ops repartition` resumes there). */
  phase?: 'staging' | 'delivering' | null;
}

export const DEPLOYMENT_TABLE = 'stockflow_meta.deployment';

export async function ensureDeploymentTable(query: Query): Promise<void> {
  // IF NOT EXISTS still races on the catalog when several instances start at once.
  await query(`DO $$ BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('stockflow.meta'));
    CREATE SCHEMA IF NOT EXISTS stockflow_meta;
    CREATE TABLE IF NOT EXISTS ${DEPLOYMENT_TABLE} (
      namespace         text        PRIMARY KEY,
      partitions        integer     NOT NULL CHECK (partitions > 0),
      state             text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'repartitioning')),
      target_partitions integer     CHECK (target_partitions > 0),
      phase             text        CHECK (phase IN ('staging', 'delivering')),
      updated_at        timestamptz NOT NULL DEFAULT now()
    );
    -- Tables made before the phase column; ALTER only when needed (it locks the table).
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'stockflow_meta' AND table_name = 'deployment' AND column_name = 'phase') THEN
      ALTER TABLE ${DEPLOYMENT_TABLE} ADD COLUMN phase text CHECK (phase IN ('staging', 'delivering'));
    END IF;
  END $$`);
}

export async function readDeployment(query: Query, namespace: string): Promise<DeploymentRecord | undefined> {
  await ensureDeploymentTable(query);
  const [row] = await query<{ partitions: number; state: DeploymentRecord['state']; target_partitions: number | null; phase: DeploymentRecord['phase'] }>(
    `SELECT partitions, state, target_partitions, phase FROM ${DEPLOYMENT_TABLE} WHERE namespace = $1`,
    [namespace],
  );
  return row && { namespace, partitions: row.partitions, state: row.state, targetPartitions: row.target_partitions, phase: row.phase };
}

export async function writeDeployment(query: Query, rec: DeploymentRecord): Promise<void> {
  await ensureDeploymentTable(query);
  await query(
    `INSERT INTO ${DEPLOYMENT_TABLE} (namespace, partitions, state, target_partitions, phase) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (namespace) DO UPDATE SET partitions = $2, state = $3, target_partitions = $4, phase = $5, updated_at = now()`,
    [rec.namespace, rec.partitions, rec.state, rec.targetPartitions, rec.phase ?? null],
  );
}

/**
 * Records N on the deployment's first start; afterwards refuses a different PARTITIONS or a
 * repartition in progress, with an error that says what to do.
 */
export async function checkPartitionCount(query: Query, namespace: string, partitions: number): Promise<DeploymentRecord> {
  await ensureDeploymentTable(query);
  await query(`INSERT INTO ${DEPLOYMENT_TABLE} (namespace, partitions) VALUES ($1, $2) ON CONFLICT (namespace) DO NOTHING`, [namespace, partitions]);
  const rec = (await readDeployment(query, namespace))!;
  if (rec.state === 'repartitioning') {
    throw new ConfigError([
      `deployment '${namespace}' is being repartitioned from ${rec.partitions} to ${rec.targetPartitions} partitions ` +
        `(${DEPLOYMENT_TABLE}); wait for \`npm run ops -- repartition --to ${rec.targetPartitions}\` to finish (or run it again), then start workers with PARTITIONS=${rec.targetPartitions}`,
    ]);
  }
  if (rec.partitions !== partitions) {
    throw new ConfigError([
      `PARTITIONS=${partitions} but deployment '${namespace}' has ${rec.partitions} partitions (recorded in ${DEPLOYMENT_TABLE}); ` +
        `start workers with PARTITIONS=${rec.partitions}, or change the count with \`npm run ops -- repartition --to ${partitions}\``,
    ]);
  }
  return rec;
}
