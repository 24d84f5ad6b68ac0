/**
 * The errors a publisher (and stockflow's own workers, which share this code) can meet. Each is
 * a class of its own so callers decide by class, never by parsing a message.
 */

export class StockflowError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
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

/**
 * A message the workers would dead-letter, refused before anything is sent: `issues` name the
 * field (`lines.0.quantity: Too big`) or the envelope property (`messageId: …`).
 */
export class ValidationError extends StockflowError {
  constructor(
    readonly messageType: string,
    readonly issues: string[],
  ) {
    super(`${messageType} is invalid: ${issues.join('; ')}`);
  }
}

/** No connection to the broker within the time the caller allowed (the last error is the cause). */
export class ConnectError extends StockflowError {}

/**
 * A broker address that no retry can make work: not a URL, not amqp: or amqps:, an empty entry
 * of a list. A ConnectError, because callers that fail fast on an unreachable broker (the CLIs,
 * Publisher.connect) should treat it the same way; `shown` is the entry without its password.
 */
export class BrokerUrlError extends ConnectError {
  constructor(
    /** 1-based position of the bad entry in the list. */
    readonly position: number,
    /** How many entries the list has. */
    readonly count: number,
    /** The entry with its password replaced by ***. */
    readonly shown: string,
    /** What is wrong with it, e.g. `protocol must be one of amqp:, amqps:`. */
    readonly problem: string,
  ) {
    super(count === 1 ? `broker address ${JSON.stringify(shown)}: ${problem}` : `broker address ${position} of ${count} (${JSON.stringify(shown)}): ${problem}`);
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
