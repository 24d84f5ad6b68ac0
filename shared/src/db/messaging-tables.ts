import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * DDL of the inbox and outbox every service schema has. Services call this from their first
 * migration so the tables are identical everywhere (and the relay and the ops CLI can rely on it).
 */
export function messagingTablesSql(schema: string): string[] {
  return [
    `CREATE TABLE "${schema}".inbox (
       consumer      text        NOT NULL,
       message_id    text        NOT NULL,
       type          text        NOT NULL,
       partition_key text        NOT NULL,
       sequence      bigint,
       -- processing order: per partition key, sequence must grow along it
       seq           bigserial   NOT NULL,
       received_at   timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (consumer, message_id)
     )`,
    `CREATE INDEX inbox_received_at ON "${schema}".inbox (received_at)`,
    `CREATE TABLE "${schema}".outbox (
       id          bigserial   PRIMARY KEY,
       message_id  text        NOT NULL,
       type        text        NOT NULL,
       exchange    text        NOT NULL,
       routing_key text        NOT NULL,
       mandatory   boolean     NOT NULL DEFAULT true,
       -- AMQP properties (correlationId, timestamp, envelope headers) as built by propertiesOf()
       properties  jsonb       NOT NULL,
       payload     text        NOT NULL,
       created_at  timestamptz NOT NULL DEFAULT now()
     )`,
  ];
}

export const MESSAGING_DOWN = (schema: string) => [`DROP TABLE "${schema}".outbox`, `DROP TABLE "${schema}".inbox`];

/**
 * The resequencer asks for a key's highest applied sequence once per subscription; without
 * this index that is a scan of the inbox. Partial: messages without a sequence never ask.
 * Every service adds it to its own schema with the same migration, named after the service.
 */
export function inboxSequenceIndexMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}InboxSequenceIndex${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX IF NOT EXISTS inbox_key_sequence ON "${schema}".inbox (consumer, partition_key, sequence) WHERE sequence IS NOT NULL`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX IF EXISTS "${schema}".inbox_key_sequence`);
    }
  };
}

/**
 * The outbox relay's own tables (and the outbox's watch-copy columns), the same in every service schema:
 * - relay_lease: which instance's relay publishes this schema's outbox, until when. A lease
 *   that expires, not a lock held by a session: a paused or hung leader keeps an idle session
 *   (and a session lock) alive for ever, a lease it cannot renew for LEASE_TTL_MS passes on.
 * - outbox_parked: rows the broker refused past their retry budget (unroutable, nacked, not
 *   encodable), with every later row of the same partition key behind them (their order holds).
 *   The relay retries each key's head with a growing delay; `ops outbox` lists, replays and
 *   discards them.
 */
export function relayTablesMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}RelayTables${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      // An event's copy for watchers on the events exchange, published beside its direct copy
      // to the consumer's partition queue (deliveryOf in amqp/topology.ts).
      await q.query(`ALTER TABLE "${schema}".outbox ADD COLUMN IF NOT EXISTS watch_exchange text, ADD COLUMN IF NOT EXISTS watch_routing_key text`);
      await q.query(`CREATE TABLE IF NOT EXISTS "${schema}".relay_lease (
        name        text        PRIMARY KEY,
        holder      text        NOT NULL,
        expires_at  timestamptz NOT NULL
      )`);
      await q.query(`CREATE TABLE IF NOT EXISTS "${schema}".outbox_parked (
        id            bigint      PRIMARY KEY,
        message_id    text        NOT NULL,
        type          text        NOT NULL,
        exchange      text        NOT NULL,
        routing_key   text        NOT NULL,
        mandatory     boolean     NOT NULL,
        properties    jsonb       NOT NULL,
        payload       text        NOT NULL,
        created_at    timestamptz NOT NULL,
        watch_exchange    text,
        watch_routing_key text,
        partition_key text        NOT NULL,
        -- why the key's head row was parked; its followers say behind_parked
        reason        text        NOT NULL,
        attempts      integer     NOT NULL DEFAULT 0,
        parked_at     timestamptz NOT NULL DEFAULT now(),
        -- head rows only: when the relay tries it again
        retry_at      timestamptz
      )`);
      await q.query(`CREATE INDEX IF NOT EXISTS outbox_parked_by_key ON "${schema}".outbox_parked (partition_key, id)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS "${schema}".outbox_parked`);
      await q.query(`DROP TABLE IF EXISTS "${schema}".relay_lease`);
      await q.query(`ALTER TABLE "${schema}".outbox DROP COLUMN IF EXISTS watch_exchange, DROP COLUMN IF EXISTS watch_routing_key`);
    }
  };
}

/**
 * Per-key sequences are numbered per publisher session (x-sequence-session), so the applied
 * high-water mark is looked up per key and session: a restarted publisher's new numbering must
 * not be taken for the old one's. '' stands for messages that carry no session.
 */
export function inboxSequenceSessionMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}InboxSequenceSession${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE "${schema}".inbox ADD COLUMN IF NOT EXISTS sequence_session text NOT NULL DEFAULT ''`);
      await q.query(`CREATE INDEX IF NOT EXISTS inbox_key_session_sequence ON "${schema}".inbox (consumer, partition_key, sequence_session, sequence) WHERE sequence IS NOT NULL`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".inbox_key_sequence`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX IF NOT EXISTS inbox_key_sequence ON "${schema}".inbox (consumer, partition_key, sequence) WHERE sequence IS NOT NULL`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".inbox_key_session_sequence`);
      await q.query(`ALTER TABLE "${schema}".inbox DROP COLUMN IF EXISTS sequence_session`);
    }
  };
}

/**
 * What deduplication needs beyond the message id:
 * - inbox.fingerprint: the type and payload a message id was first applied with. The same id
 *   with another type or payload is not a duplicate but a reuse, dead-lettered (id_reused)
 *   instead of acked without a word. NULL on rows from before.
 * - meta ('identity'): a random token drawn when the schema is made. It keys the child ids the
 *   worker gives its own messages (unpredictable, so nobody upstream can take one first) and,
 *   with the database's own identity, the Redis duplicate filter's keys (a Redis that outlived
 *   its database cannot vouch for ids the database never applied).
 */
export function dedupIdentityMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}DedupIdentity${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE "${schema}".inbox ADD COLUMN IF NOT EXISTS fingerprint text`);
      await q.query(`CREATE TABLE IF NOT EXISTS "${schema}".meta (key text PRIMARY KEY, value text NOT NULL)`);
      await q.query(`INSERT INTO "${schema}".meta (key, value) VALUES ('identity', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')) ON CONFLICT (key) DO NOTHING`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS "${schema}".meta`);
      await q.query(`ALTER TABLE "${schema}".inbox DROP COLUMN IF EXISTS fingerprint`);
    }
  };
}

/**
 * consumption_pause: what an operator paused (`stockflow-ops pause`), read by every instance of
 * the worker (db/consumption-pause.ts). One row per partition, or one with partition NULL for
 * the whole worker; the unique index makes pausing the same scope twice an update.
 */
export function consumptionPauseMigration(schema: string, prefix: string, timestamp: number): new () => MigrationInterface {
  const name = `${prefix}ConsumptionPause${timestamp}`;
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE TABLE IF NOT EXISTS "${schema}".consumption_pause (
        partition  integer     CHECK (partition >= 0),
        reason     text        NOT NULL,
        paused_by  text        NOT NULL,
        paused_at  timestamptz NOT NULL DEFAULT now()
      )`);
      await q.query(`CREATE UNIQUE INDEX IF NOT EXISTS consumption_pause_scope ON "${schema}".consumption_pause ((coalesce(partition, -1)))`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS "${schema}".consumption_pause`);
    }
  };
}
