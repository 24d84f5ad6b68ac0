/**
 * Explicit error classes. The partition consumer decides what to do with a failed message by
 * class alone: a PermanentMessageError goes to the dead-letter queue at once, anything
 * classified transient is retried in place (never letting a later message overtake it).
 */

export class StockflowError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad configuration: the process refuses to start and names every offending variable. */
export class ConfigError extends StockflowError {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** The broker already has a queue/exchange declared with other arguments than ours. */
export class TopologyMismatchError extends StockflowError {
  constructor(
    readonly entity: string,
    readonly argument: string,
    readonly detail: string,
  ) {
    super(`topology mismatch on ${entity}: argument '${argument}' differs (${detail}); ` +
      `delete or migrate the existing queue before starting, or fix the configuration`);
  }
}

/** Reasons a message is dead-lettered. Stable strings: they appear in the x-stockflow-reason header. */
export type DeadLetterReason =
  | 'malformed_json'
  | 'invalid_envelope'
  | 'unknown_type'
  | 'unsupported_version'
  | 'invalid_schema'
  | 'oversized'
  | 'bad_signature'
  | 'invalid_provider_answer'
  | 'dependency_unavailable'
  | 'id_reused'
  | 'handler_error';

/** The message itself is wrong; retrying can never help. */
export class PermanentMessageError extends StockflowError {
  constructor(
    readonly reason: DeadLetterReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Something outside the message failed (database down, deadlock, serialization); retry it. */
export class TransientError extends StockflowError {}

/**
 * A confirm-mode publish the broker refused (nack) or could not route (basic.return), or one
 * that never left: no channel, or a message amqplib cannot encode (a header table over its
 * 64 KiB buffer), which no retry can change.
 */
export class PublishError extends StockflowError {
  constructor(
    message: string,
    readonly kind: 'nack' | 'unroutable' | 'channel_closed' | 'timeout' | 'unencodable',
  ) {
    super(message);
  }
}

/** Thrown by a payload schema check at the publishing side, before anything is sent. */
export class ValidationError extends StockflowError {
  constructor(
    readonly messageType: string,
    readonly issues: string[],
  ) {
    super(`${messageType} payload is invalid: ${issues.join('; ')}`);
  }
}
