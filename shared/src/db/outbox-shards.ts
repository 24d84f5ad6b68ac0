import type { MigrationInterface, QueryRunner } from 'typeorm';
import { fmix32, fnv1a32 } from '@stockflow/client/internal';

/**
 * How the outbox is cut into shards, one per partition: a row's shard is its partition key's
 * partition (fmix32(fnv1a32(key)) mod PARTITIONS, as for the queues), so the relay of the
 * instance that owns a partition publishes the rows of the keys that partition carries
 * (relay-lease.ts). The row stores the hash, not the shard, so a repartition needs no rewrite.
 */
export function keyHash(partitionKey: string): number {
  return fmix32(fnv1a32(partitionKey));
}

/** A row's partition key in SQL, as rowKey() reads it in JavaScript. */
export const ROW_KEY_SQL = `COALESCE(properties->'headers'->>'x-partition-key', 'message:' || message_id)`;

/** The shards a relay holds, out of how many: rows and parked keys of other shards are not its business. */
export interface ShardScope {
  partitions: number;
  shards: readonly number[];
}

/** `<hash> % n = ANY(shards)` for a scope short of every shard (its params appended), else 'true'. */
export function shardCondition(hashSql: string, scope: ShardScope | undefined, params: unknown[]): string {
  if (!scope || scope.shards.length >= scope.partitions) return 'true';
  params.push(scope.partitions, [...scope.shards]);
  return `${hashSql} % $${params.length - 1} = ANY($${params.length}::int[])`;
}

/**
 * A row's key hash in SQL: the column, written by the workers, or for a row written without it
 * (by hand, by an older writer) computed from its partition key by outbox_key_hash(), the same
 * function in PL/pgSQL.
 */
export function keyHashSql(schema: string): string {
  return `coalesce(key_hash, "${schema}".outbox_key_hash(${ROW_KEY_SQL}))`;
}

/**
 * fnv1a32 then fmix32 (packages/client/src/wire/partitioner.ts) over the key's UTF-8 bytes, in
 * bigint arithmetic: a 32-bit multiplication is split in two 16-bit halves so that no product
 * leaves bigint's range. outbox-shards.int.ts checks it against the JavaScript on many keys.
 */
function keyHashFunctionSql(schema: string): string {
  return `CREATE OR REPLACE FUNCTION "${schema}".outbox_key_hash(k text) RETURNS bigint AS $fn$
DECLARE
  bytes bytea := convert_to(k, 'UTF8');
  h bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(bytes) - 1 LOOP
    h := ((h # get_byte(bytes, i)) * 16777619) & 4294967295;
  END LOOP;
  h := h # (h >> 16);
  h := ((h * 51819) + (((h * 34283) & 65535) << 16)) & 4294967295;
  h := h # (h >> 13);
  h := ((h * 44597) + (((h * 49842) & 65535) << 16)) & 4294967295;
  h := h # (h >> 16);
  RETURN h;
END
$fn$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE`;
}

/**
 * The outbox's key_hash column and the function behind keyHashSql(). Existing rows get their
 * hash here; the one-leader relay lease row goes (shards are leased as outbox:<n>).
 */
export function outboxShardsMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}OutboxShards${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query(keyHashFunctionSql(schema));
      await q.query(`ALTER TABLE "${schema}".outbox ADD COLUMN IF NOT EXISTS key_hash bigint`);
      await q.query(`UPDATE "${schema}".outbox SET key_hash = "${schema}".outbox_key_hash(${ROW_KEY_SQL}) WHERE key_hash IS NULL`);
      await q.query(`DELETE FROM "${schema}".relay_lease WHERE name = 'outbox'`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE "${schema}".outbox DROP COLUMN IF EXISTS key_hash`);
      await q.query(`DROP FUNCTION IF EXISTS "${schema}".outbox_key_hash(text)`);
      await q.query(`DELETE FROM "${schema}".relay_lease WHERE name LIKE 'outbox:%'`);
    }
  };
}
