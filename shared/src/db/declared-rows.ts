import { StockflowError } from '../errors';

/**
 * A handler read or wrote a row its unit of work did not lock: before load(), or one it never
 * declared. A bug in the handler, not in the message: the row would not be locked, so two
 * partitions could change it at once.
 */
export class UndeclaredRowError extends StockflowError {}

/** What every unit of work checks before it hands a handler a row. */
export function assertDeclared(loaded: boolean, what: string, declared: boolean): void {
  if (!loaded) throw new UndeclaredRowError(`unit of work read before load(): ${what}`);
  if (!declared) throw new UndeclaredRowError(`handler touched ${what} without declaring it (it would not be locked)`);
}
