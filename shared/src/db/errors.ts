import { StockflowError } from '../errors';

/**
 * Postgres failures that say nothing about the message: retry the same batch in place.
 * Everything in SQLSTATE class 23 (integrity constraint) is about the data the message
 * would produce, so it is not here: the pipeline isolates such a message and dead-letters it.
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '25P03', // idle_in_transaction_session_timeout
  '53300', // too_many_connections
  '53200', // out_of_memory
  '53100', // disk_full
  '58000', // system_error
]);

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

const TRANSIENT_MESSAGES = [
  /Connection terminated/i,
  /terminating connection/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Client was closed/i,
  /Connection ended/i,
  /the database system is (starting up|shutting down)/i,
];

export function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isTransientDbError(err: unknown): boolean {
  const code = sqlState(err);
  if (code && (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_NODE_CODES.has(code))) return true;
  const message = err instanceof Error ? err.message : String(err);
  return TRANSIENT_MESSAGES.some((re) => re.test(message));
}

export function isConstraintViolation(err: unknown): boolean {
  return sqlState(err)?.startsWith('23') ?? false;
}

/** SQLSTATE class 22: the value itself cannot be stored (a NUL in text, bad JSON): retrying will not help. */
export function isDataException(err: unknown): boolean {
  return sqlState(err)?.startsWith('22') ?? false;
}

/** 42P01: the table is not there (the service that creates it never started on this database). */
export function isUndefinedTable(err: unknown): boolean {
  return sqlState(err) === '42P01';
}

/** COMMIT answered otherwise than COMMIT: an earlier statement had aborted the transaction. */
export class TransactionRolledBack extends StockflowError {
  constructor(readonly answer: string) {
    super(`COMMIT answered ${answer}: an earlier statement had aborted the transaction, nothing was committed`);
  }
}
