import { sleep } from '@stockflow/client/internal';
import { processedIds } from '../../db/inbox';
import { PermanentMessageError, type DeadLetterReason } from '../../errors';
import { messageLogger } from '../../logger';
import { BUDGETS } from '../../retry/policy';
import { DEAD_LETTER_HEADERS } from '../dead-letter';
import type { PrepareContext, Runtime, ServiceDefinition, UnitOfWork } from '../types';
import type { BatchRun, Entry } from './batch-run';
import { handlerOf } from './handler-context';

export function reasonOf(err: unknown): DeadLetterReason {
  return err instanceof PermanentMessageError ? err.reason : 'handler_error';
}

/**
 * The work a handler does outside the transaction, before it (prepare(): a provider call), and
 * its undo when the message is dead-lettered after all (compensate()). Both are bounded by the
 * retry policy (BUDGETS.prepare, BUDGETS.compensation).
 */
export class PrepareStage<U extends UnitOfWork> {
  constructor(
    private readonly def: ServiceDefinition<U>,
    private readonly rt: Runtime,
  ) {}

  /**
   * Runs prepare() of the messages not yet in the inbox, in order. A message whose prepare()
   * fails for good (permanent, or unknown past its budget) is dead-lettered and settled; one
   * whose dependency stays down past the transient budget goes to its handler's exhausted(),
   * or is dead-lettered as dependency_unavailable. False: the batch was abandoned.
   */
  async run(run: BatchRun, todo: Entry[]): Promise<boolean> {
    const needing = todo.filter((e) => handlerOf(this.def, e.item.envelope).prepare !== undefined);
    if (needing.length === 0) return true;
    for (let attempt = 0; ; attempt++) {
      if (run.abandoned(needing)) return false;
      let current: Entry | undefined;
      try {
        const done = await processedIds((sql, p) => this.rt.db.query(sql, p), this.rt.db.schema, this.def.name, needing.map((e) => e.item.envelope.messageId));
        for (const e of needing) {
          if (run.isSettled(e) || done.has(e.item.envelope.messageId) || e.item.prepared !== undefined) continue;
          current = e;
          e.item.prepared = await handlerOf(this.def, e.item.envelope).prepare!(e.item.payload as never, this.context(run, e));
        }
        return true;
      } catch (err) {
        const next = this.rt.policy.next(err, attempt, BUDGETS.prepare);
        if (next.retry) {
          this.rt.metrics.transientRetries.inc({ kind: 'prepare' });
          this.rt.log.warn({ err: (err as Error).message, partition: run.partition, attempt, retryInMs: next.delayMs }, 'prepare step failed; retrying');
          await sleep(next.delayMs, run.signal);
          continue;
        }
        if (!current) {
          // The inbox look-up itself (Postgres) kept failing: nothing about a message.
          run.giveBack('prepare', err);
          return false;
        }
        const handler = handlerOf(this.def, current.item.envelope);
        if (next.kind === 'transient' && handler.exhausted) {
          current.item.prepared = handler.exhausted(current.item.payload as never, this.context(run, current), err);
        } else {
          const reason: DeadLetterReason = next.kind === 'transient' ? 'dependency_unavailable' : reasonOf(err);
          if (!(await run.deadLetter(current.d, reason, (err as Error).message))) return false;
        }
        attempt = -1;
      }
    }
  }

  /**
   * Before a message whose prepare() acted is dead-lettered: its handler's compensate() undoes
   * that (refunds a charge nobody will record). Returns the headers that say what happened, or
   * 'abandoned'.
   */
  async compensate(run: BatchRun, e: Entry): Promise<Record<string, string> | 'abandoned'> {
    const handler = handlerOf(this.def, e.item.envelope);
    if (!handler.compensate || e.item.prepared === undefined) return {};
    const ctx = this.context(run, e);
    for (let attempt = 0; ; attempt++) {
      if (run.abandoned([e])) return 'abandoned';
      try {
        const done = await handler.compensate(e.item.payload as never, ctx, e.item.prepared);
        this.rt.metrics.compensations.inc({ outcome: 'done' });
        ctx.log.warn({ compensation: done }, 'compensated what prepare() did before dead-lettering');
        return { [DEAD_LETTER_HEADERS.compensation]: done.slice(0, 500) };
      } catch (err) {
        const next = this.rt.policy.next(err, attempt, BUDGETS.compensation);
        if (!next.retry) {
          this.rt.metrics.compensations.inc({ outcome: 'failed' });
          ctx.log.error({ err: (err as Error).message }, 'compensation failed; dead-lettering with it marked failed (needs a person)');
          return { [DEAD_LETTER_HEADERS.compensation]: `failed: ${(err as Error).message}`.slice(0, 500) };
        }
        await sleep(next.delayMs, run.signal);
      }
    }
  }

  private context(run: BatchRun, e: Entry): PrepareContext {
    const env = e.item.envelope;
    return {
      envelope: env,
      item: e.item,
      runtime: this.rt,
      log: messageLogger(this.rt.log, { messageId: env.messageId, type: env.type, partition: run.partition, correlationId: env.correlationId }),
      signal: run.signal,
    };
  }
}
