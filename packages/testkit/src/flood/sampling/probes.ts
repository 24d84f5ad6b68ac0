import type { Pool } from 'pg';
import { queuesOf, WORKER_KINDS, type AmqpConnection, type TopologyOptions } from '@stockflow/shared';
import type { History } from '../history/history';
import type { Fleet } from '../supervisor/fleet';
import type { Probe } from './sampler';

export const SCHEMAS = ['inventory', 'orders', 'payments'];

/** Publishes (with duplicates), distinct commands, events seen. */
export function historyProbe(history: History): Probe {
  return {
    name: 'history',
    read: async () => ({ published: history.publishes.length, events: history.events.size }),
  };
}

/**
 * Ready messages per worker kind's partition queues (AMQP cannot see unacked ones), and the
 * deepest partition of each kind: one stuck partition hides in a sum over sixteen.
 */
export function queueProbe(conn: AmqpConnection, topology: TopologyOptions): Probe {
  return {
    name: 'queues',
    read: async () => {
      const ch = await conn.createChannel();
      try {
        const out: Record<string, number> = { depth: 0 };
        for (const kind of WORKER_KINDS) {
          let n = 0;
          let max = -1;
          for (const [i, q] of queuesOf(topology, kind).filter((q) => !q.name.endsWith('.dead')).entries()) {
            const m = (await ch.checkQueue(q.name)).messageCount;
            n += m;
            if (m > max) [max, out[`depthMaxAt.${kind}`]] = [m, i];
          }
          out[`depth.${kind}`] = n;
          out[`depthMax.${kind}`] = Math.max(0, max);
          out.depth! += n;
        }
        return out;
      } finally {
        await ch.close().catch(() => undefined);
      }
    },
  };
}

/**
 * Outbox rows waiting, and messages applied so far (inbox inserts from the statistics
 * collector: cheap, about a second behind, good enough for a rate).
 */
export function postgresProbe(pool: Pool): Probe {
  return {
    name: 'postgres',
    read: async () => {
      const outbox = await pool.query<{ s: string; n: string }>(SCHEMAS.map((s) => `SELECT '${s}' AS s, count(*) AS n FROM "${s}".outbox`).join(' UNION ALL '));
      const inbox = await pool.query<{ n: string }>(`SELECT COALESCE(sum(n_tup_ins), 0) AS n FROM pg_stat_user_tables WHERE relname = 'inbox' AND schemaname = ANY($1::text[])`, [SCHEMAS]);
      const out: Record<string, number> = { outbox: outbox.rows.reduce((s, r) => s + Number(r.n), 0), applied: Number(inbox.rows[0]?.n ?? 0) };
      for (const r of outbox.rows) out[`outbox.${r.s}`] = Number(r.n);
      return out;
    },
  };
}

/** Counters scraped from the workers (owned fleets), and how many processes are up. */
export function fleetProbe(fleet: Fleet): Probe {
  return {
    name: 'fleet',
    read: async (): Promise<Record<string, number>> => {
      const c = await fleet.counters();
      const up = fleet.processes().filter((p) => p.state === 'running').length;
      return c ? { duplicatesAbsorbed: c.duplicates, deadLettered: c.deadLettered, workersUp: up } : {};
    },
  };
}
