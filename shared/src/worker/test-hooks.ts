import { type CommonConfig, SABOTAGE_ALLOWED } from '../config';
import type { Tx } from '../db/database';
import type { Logger } from '../logger';
import type { WorkItem } from './types';

/**
 * Switches that break a guarantee on purpose, so tests can show that the checker and the
 * isolation tests would notice. Read from STOCKFLOW_SABOTAGE and honoured only together with
 * STOCKFLOW_ALLOW_SABOTAGE=i-know-this-breaks-things.
 */
export interface Sabotage {
  /** Skip the inbox claim: every delivery counts as new. */
  noInbox: boolean;
  /** Read rows without FOR UPDATE (the unit of work's transaction drops it). */
  noLocks: boolean;
  /** Take every copy of a claimed id for a duplicate, whatever its type or payload. */
  noFingerprint: boolean;
  /** The webhook gateway publishes webhooks without checking their signature. */
  trustWebhooks: boolean;
  /** Dead-lettered copies keep every original header, however big. */
  untrimmedDeadLetters: boolean;
  /** The operator's pauses are never read: every partition is consumed regardless. */
  ignorePauses: boolean;
}

const SABOTAGE_NAMES: Record<CommonConfig['sabotage'][number], keyof Sabotage> = {
  'no-inbox': 'noInbox',
  'no-locks': 'noLocks',
  'no-fingerprint': 'noFingerprint',
  'trust-webhooks': 'trustWebhooks',
  'untrimmed-dead-letters': 'untrimmedDeadLetters',
  'ignore-pauses': 'ignorePauses',
};

/**
 * Every seam tests use on the real code path, in one option (WorkerOptions.testHooks) that the
 * package's public barrel does not export. Production passes none; a worker process started by
 * a test gets the same from its environment (sabotage, exit after commit).
 */
export interface TestHooks {
  /** Inside the transaction, just before COMMIT: throw to simulate a failure there. */
  beforeCommit?: (items: WorkItem[], attempt: number) => void | Promise<void>;
  /** After COMMIT, before the ack: the window a crash turns into a redelivery. */
  afterCommit?: (items: WorkItem[]) => void | Promise<void>;
  /** The outbox relay published these ids (confirmed) and has not deleted their rows yet. */
  relayAfterPublish?: (messageIds: string[]) => void | Promise<void>;
  sabotage?: Partial<Sabotage>;
  /** How long after the last duplicate (or the start) every arrival is looked up in Redis (DUPLICATES_RECENT_MS). */
  duplicatesRecentMs?: number;
}

/** The hooks a worker runs with: the ones given in code, else the ones its environment asks for. */
export interface ResolvedTestHooks extends TestHooks {
  sabotage: Sabotage;
}

export function resolveTestHooks(config: CommonConfig, given: TestHooks | undefined, log: Logger): ResolvedTestHooks {
  const allowed = config.allowSabotage === SABOTAGE_ALLOWED;
  const sabotage: Sabotage = { noInbox: false, noLocks: false, noFingerprint: false, trustWebhooks: false, untrimmedDeadLetters: false, ignorePauses: false };
  for (const name of allowed ? config.sabotage : []) {
    sabotage[SABOTAGE_NAMES[name]] = true;
  }
  Object.assign(sabotage, given?.sabotage);
  const active = Object.entries(sabotage).filter(([, on]) => on).map(([k]) => k);
  if (active.length > 0) log.warn({ sabotage: active }, 'SABOTAGE ACTIVE: guarantees are deliberately broken (test only)');
  const exitType = allowed ? config.exitAfterCommit : '';
  const afterCommit = given?.afterCommit ?? (exitType ? exitAfterCommit(exitType) : undefined);
  return { ...given, afterCommit, sabotage };
}

/** A crash test's child process exits hard right after committing a fresh message of this type, before acking it. */
function exitAfterCommit(type: string): TestHooks['afterCommit'] {
  return (items) => {
    if (items.some((i) => i.envelope.type === type)) process.kill(process.pid, 'SIGKILL');
  };
}

/** The transaction a unit of work gets under the no-locks sabotage: its row locks (lockInOrder) read without FOR UPDATE. */
export function withoutRowLocks(tx: Tx): Tx {
  const unlock = (sql: string) => sql.replace(/\s+FOR UPDATE OF t\s*$/, '');
  return {
    query: (sql, params) => tx.query(unlock(sql), params),
    exec: (sql, params) => tx.exec(unlock(sql), params),
    write: (sql, params, onRows) => tx.write(unlock(sql), params, onRows),
    onCommit: (fn) => tx.onCommit(fn),
  };
}
