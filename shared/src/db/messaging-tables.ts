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
