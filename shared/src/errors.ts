/**
 * Explicit error classes. The partition consumer decides what to do with a failed message by
 * class alone: a PermanentMessageError goes to the dead-letter queue at once, anything
 * classified transient is retried in place (never letting a later message overtake it).
 * The classes a publisher meets too live in the client package.
 */
import { StockflowError } from '@stockflow/client';

export { ConnectError, PermanentMessageError, PublishError, StockflowError, TopologyMismatchError, ValidationError, type DeadLetterReason } from '@stockflow/client';

/** Bad configuration: the process refuses to start and names every offending variable. */
export class ConfigError extends StockflowError {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Something outside the message failed (database down, deadlock, serialization); retry it. */
export class TransientError extends StockflowError {}
