import { addPauses, partitionLabel, partitionOf, partitionQueue, PAUSE_SEEN_MS, removePauses, WORKER_KINDS, WORKER_NAMES } from '@stockflow/shared';
import { FaultSkipped, type FaultContext, type FaultOutcome } from './actions';
import { edge } from './edge-actions';
import { onFloodChannel } from './flood-channel';

/** How long a pause fault keeps consumption paused. */
const PAUSE_MS = 5_000;
/**
 * How long the instances get to let go of the paused queues: each reads the pauses every
 * PAUSE_POLL_MS and first finishes the batch in hand, or cuts its retries short after
 * PAUSED_BATCH_GRACE_MS (a batch retrying a fault of its own).
 */
export const PAUSE_LET_GO_MS = 15_000;
const LOOK_EVERY_MS = 100;
/**
 * Why the pause is not judged on a cluster: it proves let-go by the paused queues' consumer
 * count, and on a RabbitMQ 3.10 cluster that count is not to be trusted around node restarts.
 */
export const PAUSE_ON_CLUSTER = 'on a RabbitMQ cluster a quorum queue\'s consumer count keeps consumers that are gone after a node restart (seen: 1 for 15 s after the only instance had let go), so whether the instances let go cannot be judged';
/** How long the paused queues must show no consumer before the instances count as let go. */
const NO_CONSUMER_FOR_MS = 1_000;
const REASON = 'stockflow flood: pause fault';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An operator pauses a partition of one worker kind (a quarter of the time the whole worker),
 * the way `stockflow-ops pause` does, while traffic and the other faults go on; resumes it after
 * PAUSE_MS, whatever happens. Measured for pause-held: how long until no instance consumed the
 * paused queues, and how many inbox rows of the paused partitions were written between then and
 * the resume (there must be none).
 */
export async function pause(ctx: FaultContext): Promise<FaultOutcome> {
  if (ctx.cluster) throw new FaultSkipped(`pause: ${PAUSE_ON_CLUSTER}`);
  const e = edge(ctx);
  const n = e.topology.partitions;
  const kind = ctx.rng.pick(WORKER_KINDS);
  const { schema, service } = WORKER_NAMES[kind];
  const partitions = ctx.rng.chance(0.25) ? null : [ctx.rng.int(0, n - 1)];
  const scope = partitions === null ? new Set(Array.from({ length: n }, (_, p) => p)) : new Set(partitions);
  const queues = [...scope].map((p) => partitionQueue(e.topology.namespace, kind, p, n));
  const query = async <R = Record<string, unknown>>(sql: string, params?: unknown[]) => (await e.pool.query(sql, params)).rows as R[];
  const target = `${service} ${partitions === null ? 'every partition' : `p${partitionLabel(partitions[0]!, n)}`}`;
  const started = Date.now();
  await addPauses(query, schema, partitions, REASON, 'stockflow-flood');
  try {
    let letGoMs = -1;
    let noneSince: number | undefined;
    while (Date.now() - started < PAUSE_LET_GO_MS) {
      // No consumer proves the pause only once every instance has had time to read it, and
      // only when it lasts: a consumer an instance is registering (a partition it gained just
      // before it read the pause) is not counted by the queue yet.
      if ((await consumers(e, queues)) === 0) noneSince ??= Date.now();
      else noneSince = undefined;
      if (noneSince !== undefined && Date.now() - noneSince >= NO_CONSUMER_FOR_MS && Date.now() - started >= PAUSE_SEEN_MS) {
        letGoMs = Date.now() - started;
        break;
      }
      await sleep(LOOK_EVERY_MS);
    }
    const [from] = await query<{ at: Date }>('SELECT clock_timestamp() AS at');
    await sleep(PAUSE_MS);
    const [until] = await query<{ at: Date }>('SELECT clock_timestamp() AS at');
    const waiting = await ready(e, queues);
    const rows = letGoMs < 0 ? [] : await query<{ partition_key: string }>(`SELECT partition_key FROM "${schema}".inbox WHERE received_at >= $1 AND received_at < $2`, [from!.at, until!.at]);
    const appliedWhilePaused = rows.filter((r) => scope.has(partitionOf(r.partition_key, n))).length;
    return {
      target,
      detail: letGoMs < 0 ? `still consumed ${PAUSE_LET_GO_MS} ms after the pause` : `no consumer after ${letGoMs} ms, paused ${PAUSE_MS} ms with ${waiting} messages waiting, resumed`,
      measure: { letGoMs, appliedWhilePaused, waiting },
    };
  } finally {
    // Never left behind: a paused partition would hold the run's last messages for ever.
    await removePauses(query, schema, partitions);
  }
}

async function consumers(e: ReturnType<typeof edge>, queues: string[]): Promise<number> {
  let n = 0;
  for (const q of queues) n += (await check(e, q)).consumerCount;
  return n;
}

async function ready(e: ReturnType<typeof edge>, queues: string[]): Promise<number> {
  let n = 0;
  for (const q of queues) n += (await check(e, q)).messageCount;
  return n;
}

function check(e: ReturnType<typeof edge>, queue: string): Promise<{ consumerCount: number; messageCount: number }> {
  return onFloodChannel(e.amqp, (ch) => ch.checkQueue(queue));
}
